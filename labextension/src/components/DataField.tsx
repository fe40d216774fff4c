import React, { useEffect, useState } from 'react';

import { globCount } from '../api';
import { IGlobCount } from '../types';
import { useDebounced } from '../useDebounced';
import { errorMessage } from '../util';
import { FormField } from './FormField';

/** The data glob, with a live count of the files it matches ("3 files"). */
export function DataField(props: {
  value: string;
  onChange: (value: string) => void;
  /** An error about this field from the form (the run's reply). */
  error?: string;
  /** Told whether the pattern matches files (null: not known yet); the form refuses to run
   * when it does not (the server checks again). */
  onValid: (valid: boolean | null) => void;
}): JSX.Element {
  const pattern = useDebounced(props.value.trim(), 300);
  const [result, setResult] = useState<IGlobCount | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { onValid } = props;
  useEffect(() => {
    let live = true;
    setResult(null);
    setError(null);
    onValid(null);
    if (!pattern) {
      return;
    }
    globCount(pattern)
      .then(r => {
        if (live) {
          setResult(r);
          onValid(r.count > 0);
        }
      })
      .catch(reason => {
        if (live) {
          setError(errorMessage(reason));
          onValid(false);
        }
      });
    return () => {
      live = false;
    };
  }, [pattern, onValid]);
  const n = result?.count ?? 0;
  const hint = result ? (
    <span
      className="jp-TramwayField-count"
      title={result.names.join('\n') + (n > result.names.length ? '\n…' : '')}
    >
      {n.toLocaleString()} file{n === 1 ? '' : 's'}
    </span>
  ) : (
    'a glob relative to the server root, e.g. data/*.rpt.txt'
  );
  return (
    <FormField
      label="Data"
      name="data"
      error={error ?? props.error}
      hint={hint}
    >
      <input
        className="jp-mod-styled"
        type="text"
        value={props.value}
        placeholder="data/*.rpt.txt"
        onChange={e => props.onChange(e.target.value)}
      />
    </FormField>
  );
}
