import { useEffect, useState } from 'react';

import { useDebounced } from './useDebounced';
import { errorMessage } from './util';

/**
 * What the server says of a form field's text, looked up once the text has not changed for
 * 300 ms (a reply to an older text is dropped). `onResult` hears the reply (null while there
 * is none), `onError` a refusal.
 */
export function useServerLookup<T>(
  text: string,
  lookup: (text: string) => Promise<T>,
  onResult: (result: T | null) => void,
  onError?: () => void
): { result: T | null; error: string | null } {
  const key = useDebounced(text.trim(), 300);
  const [result, setResult] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setResult(null);
    setError(null);
    onResult(null);
    if (!key) {
      return;
    }
    lookup(key)
      .then(r => {
        if (live) {
          setResult(r);
          onResult(r);
        }
      })
      .catch(reason => {
        if (live) {
          setError(errorMessage(reason));
          onError?.();
        }
      });
    return () => {
      live = false;
    };
  }, [key, lookup, onResult, onError]);
  return { result, error };
}
