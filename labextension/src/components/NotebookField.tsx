import React from 'react';

import { notebookPipeline } from '../api';
import { INotebookPipeline } from '../types';
import { useServerLookup } from '../useServerLookup';
import { TextField } from './FormField';

/** The notebook whose %%tramway cells run, with its stages (read by the server). */
export function NotebookField(props: {
  value: string;
  onChange: (value: string) => void;
  /** An error about this field from the form (the run's reply). */
  error?: string;
  onPipeline: (pipeline: INotebookPipeline | null) => void;
}): JSX.Element {
  const { result: pipeline, error } = useServerLookup(
    props.value,
    notebookPipeline,
    props.onPipeline
  );
  const hint = pipeline
    ? 'stages: ' +
      pipeline.stages.map(s => `${s.name} (per ${s.per})`).join(', ')
    : 'a notebook with %%tramway cells, relative to the server root';
  return (
    <TextField
      label="Notebook"
      name="notebook"
      value={props.value}
      onChange={props.onChange}
      placeholder="analysis.ipynb"
      error={error ?? props.error}
      hint={hint}
    />
  );
}
