import { refreshIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import { getTask, getTaskLog } from '../api';
import { ITaskDetail, ITaskLog } from '../types';
import { errorMessage, stripAnsi, tracebackText } from '../util';
import { IconButton } from './IconButton';
import { StateBadge } from './StateBadge';

/** The value of a settled request, or the message of its failure. */
type Loaded<T> = { value: T } | { error: string };

function settle<T>(promise: Promise<T>): Promise<Loaded<T>> {
  return promise.then(
    value => ({ value }),
    reason => ({ error: errorMessage(reason) })
  );
}

/**
 * A task's whole error (ename, evalue, the cell that raised and its source, the full
 * traceback) and its log, for a main-area tab: nothing cut, long lines wrapped.
 */
export function TaskErrorView(props: {
  batchId: string;
  taskId: string;
  /** Changes when the tab is asked again: reload. */
  version: number;
}): JSX.Element {
  const [detail, setDetail] = useState<Loaded<ITaskDetail> | null>(null);
  const [log, setLog] = useState<Loaded<ITaskLog> | null>(null);
  const [reloads, setReloads] = useState(0);
  useEffect(() => {
    let live = true;
    void settle(getTask(props.batchId, props.taskId)).then(
      d => live && setDetail(d)
    );
    void settle(getTaskLog(props.batchId, props.taskId)).then(
      l => live && setLog(l)
    );
    return () => {
      live = false;
    };
  }, [props.batchId, props.taskId, props.version, reloads]);

  const task = detail && 'value' in detail ? detail.value : null;
  const err = task?.status?.error ?? null;
  return (
    <div className="jp-TramwayErrorTab">
      <div className="jp-TramwayErrorTab-header">
        <h1 className="jp-TramwayErrorTab-title">Task {props.taskId}</h1>
        {task && <StateBadge state={task.task.state} />}
        <IconButton
          icon={refreshIcon}
          label="Reload"
          title="Load the error and the log again"
          onClick={() => setReloads(n => n + 1)}
        />
      </div>
      {detail === null && (
        <div className="jp-TramwayErrorTab-note">Loading…</div>
      )}
      {detail && 'error' in detail && (
        <div className="jp-TramwayErrorTab-note jp-mod-error">
          {detail.error}
        </div>
      )}
      {task && (
        <dl className="jp-TramwayErrorTab-meta">
          <dt>Batch</dt>
          <dd>{props.batchId}</dd>
          <dt>Stage</dt>
          <dd>{task.task.stage}</dd>
          <dt>Source</dt>
          <dd>
            {task.task.source}
            {task.task.roi_index !== null ? `, ROI ${task.task.roi_index}` : ''}
          </dd>
          <dt>Job</dt>
          <dd>
            {task.task.job_index} · attempt {task.task.attempt}
            {task.status?.host ? ` · ${task.status.host}` : ''}
          </dd>
        </dl>
      )}
      {err && (
        <section className="jp-TramwayErrorTab-error">
          <h2>Error</h2>
          <pre className="jp-TramwayErrorTab-evalue">
            {err.ename}: {err.evalue}
          </pre>
          {err.cell_index !== null && <h3>Cell {err.cell_index}</h3>}
          {err.source && (
            <pre className="jp-TramwayErrorTab-source">{err.source}</pre>
          )}
          {err.traceback && (
            <>
              <h3>Traceback</h3>
              <pre className="jp-TramwayErrorTab-traceback">
                {tracebackText(err.traceback)}
              </pre>
            </>
          )}
        </section>
      )}
      {task && !err && task.task.error && (
        <section className="jp-TramwayErrorTab-error">
          <h2>Error</h2>
          <pre className="jp-TramwayErrorTab-evalue">{task.task.error}</pre>
        </section>
      )}
      <section>
        <h2>Log</h2>
        {log === null && (
          <div className="jp-TramwayErrorTab-note">Loading log…</div>
        )}
        {log && 'error' in log && (
          <div className="jp-TramwayErrorTab-note">{log.error}</div>
        )}
        {log && 'value' in log && (
          <>
            <div className="jp-TramwayErrorTab-note">
              {log.value.path}
              {log.value.truncated ? ' (last 256 KiB)' : ''}
            </div>
            <pre className="jp-TramwayErrorTab-log">
              {stripAnsi(log.value.log)}
            </pre>
          </>
        )}
      </section>
    </div>
  );
}
