import React, { useCallback } from 'react';

import { globCount } from '../api';
import { IGlobCount } from '../types';
import { useServerLookup } from '../useServerLookup';
import { TextField } from './FormField';

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
  const { onValid } = props;
  const onResult = useCallback(
    (r: IGlobCount | null) => onValid(r === null ? null : r.count > 0),
    [onValid]
  );
  const onError = useCallback(() => onValid(false), [onValid]);
  const { result, error } = useServerLookup(
    props.value,
    globCount,
    onResult,
    onError
  );
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
    <TextField
      label="Data"
      name="data"
      value={props.value}
      onChange={props.onChange}
      placeholder="data/*.rpt.txt"
      error={error ?? props.error}
      hint={hint}
    />
  );
}
