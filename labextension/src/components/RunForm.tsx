import React, { useCallback, useState } from 'react';

import { startRun } from '../api';
import { fieldOf, parseAssignments, RunField } from '../runform';
import { INotebookPipeline, IRunRequest } from '../types';
import { errorMessage } from '../util';
import { DataField } from './DataField';
import { FormField, TextField } from './FormField';
import { NotebookField } from './NotebookField';
import { ProfileField } from './ProfileField';

/**
 * The Run form: what `tramway-jupyter run` takes (notebook, data glob, ROIs, profile, workers,
 * --param/--sweep/--segments), a dry run's estimate, then Run. Errors show under their field.
 */
export function RunForm(props: {
  initialNotebook: string;
  onStarted: (batchId: string) => void;
  onClose: () => void;
}): JSX.Element {
  const [notebook, setNotebook] = useState(props.initialNotebook);
  const [pipeline, setPipeline] = useState<INotebookPipeline | null>(null);
  const [data, setData] = useState('');
  const [dataOK, setDataOK] = useState<boolean | null>(null);
  const [rois, setRois] = useState('');
  const [profile, setProfile] = useState('local');
  const [workers, setWorkers] = useState('');
  const [params, setParams] = useState('');
  const [sweep, setSweep] = useState('');
  const [segments, setSegments] = useState('');
  const [name, setName] = useState('');
  const [errors, setErrors] = useState<Partial<Record<RunField, string>>>({});
  const [estimate, setEstimate] = useState<string | null>(null);
  const [busy, setBusy] = useState<'dry' | 'run' | null>(null);
  /** A setter that also clears the form's error about the field (it is being edited). */
  const edit =
    (field: RunField, set: (v: string) => void) =>
    (value: string): void => {
      set(value);
      setErrors(e => ({ ...e, [field]: undefined, run: undefined }));
    };
  const onValid = useCallback((ok: boolean | null) => setDataOK(ok), []);
  const onPipeline = useCallback(
    (p: INotebookPipeline | null) => setPipeline(p),
    []
  );

  /** The request, or null after showing what is wrong in the form. */
  const request = (dryRun: boolean): IRunRequest | null => {
    const found: Partial<Record<RunField, string>> = {};
    const p = parseAssignments(params, '--param');
    const s = parseAssignments(sweep, '--sweep');
    if (p.error) {
      found.params = p.error;
    }
    if (s.error) {
      found.sweep = s.error;
    }
    const n = workers.trim() ? Number(workers) : undefined;
    if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
      found.workers = 'workers must be a whole number >= 1';
    }
    if (!notebook.trim()) {
      found.notebook = 'choose a notebook with %%tramway cells';
    }
    if (!data.trim()) {
      found.data = 'give the data files, e.g. data/*.rpt.txt';
    } else if (dataOK === false) {
      found.data = `no data file matches '${data.trim()}'`;
    }
    setErrors(found);
    if (Object.keys(found).length) {
      return null;
    }
    return {
      notebook: notebook.trim(),
      data: data.trim(),
      rois: rois.trim() || undefined,
      profile,
      workers: n,
      params: p.values,
      sweep: s.values,
      segments: segments.trim() || undefined,
      name: name.trim() || undefined,
      dry_run: dryRun
    };
  };

  const submit = async (dryRun: boolean) => {
    const body = request(dryRun);
    if (!body) {
      return;
    }
    setBusy(dryRun ? 'dry' : 'run');
    setEstimate(null);
    try {
      const reply = await startRun(body);
      if ('text' in reply) {
        setEstimate(reply.text);
      } else {
        props.onStarted(reply.batch_id);
      }
    } catch (reason) {
      const msg = errorMessage(reason);
      setErrors({ [fieldOf(msg)]: msg });
    } finally {
      setBusy(null);
    }
  };

  const text = (
    field: RunField,
    label: string,
    value: string,
    set: (v: string) => void,
    placeholder: string,
    hint?: string
  ) => (
    <TextField
      label={label}
      name={field}
      value={value}
      onChange={edit(field, set)}
      placeholder={placeholder}
      error={errors[field]}
      hint={hint}
    />
  );
  const area = (
    field: 'params' | 'sweep',
    label: string,
    value: string,
    set: (v: string) => void,
    placeholder: string
  ) => (
    <FormField
      label={label}
      name={field}
      error={errors[field]}
      hint={
        field === 'params' && pipeline?.parameters
          ? `parameters: ${pipeline.parameters.join(', ')}`
          : undefined
      }
    >
      <textarea
        className="jp-mod-styled"
        rows={2}
        value={value}
        placeholder={placeholder}
        onChange={e => edit(field, set)(e.target.value)}
      />
    </FormField>
  );

  return (
    <form
      className="jp-TramwayRunForm"
      onSubmit={e => {
        e.preventDefault();
        void submit(false);
      }}
    >
      <div className="jp-TramwayRunForm-header">
        <h3>New batch</h3>
        <button
          type="button"
          className="jp-TramwayButton"
          title="Close the form"
          onClick={props.onClose}
        >
          ✕
        </button>
      </div>
      <NotebookField
        value={notebook}
        onChange={edit('notebook', setNotebook)}
        onPipeline={onPipeline}
        error={errors.notebook}
      />
      <DataField
        value={data}
        onChange={edit('data', setData)}
        onValid={onValid}
        error={errors.data}
      />
      {text('rois', 'ROIs', rois, setRois, 'default', "'all', 'none', 0,2,5-7")}
      <ProfileField
        value={profile}
        onChange={edit('profile', setProfile)}
        error={errors.profile}
      />
      {text('workers', 'Workers', workers, setWorkers, 'default')}
      {area('params', 'Parameters', params, setParams, 'sigma=0.02')}
      {area('sweep', 'Sweep', sweep, setSweep, 'sigma=0.02,0.03')}
      {text('segments', 'Segments', segments, setSegments, 'DURATION[:SHIFT]')}
      {text('name', 'Name', name, setName, 'optional')}
      {errors.run && (
        <div className="jp-TramwayField-error" role="alert" data-field="run">
          {errors.run}
        </div>
      )}
      {estimate !== null && (
        <pre className="jp-TramwayRunForm-estimate">{estimate}</pre>
      )}
      <div className="jp-TramwayRunForm-actions">
        <button
          type="button"
          className="jp-TramwayButton jp-mod-dryrun"
          disabled={busy !== null}
          onClick={() => void submit(true)}
        >
          {busy === 'dry' ? 'Estimating…' : 'Dry run'}
        </button>
        <button
          type="submit"
          className="jp-TramwayButton jp-mod-accept jp-mod-run"
          disabled={busy !== null}
        >
          {busy === 'run' ? 'Starting…' : 'Run'}
        </button>
      </div>
    </form>
  );
}
