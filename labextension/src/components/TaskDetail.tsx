import {
  launchIcon,
  notebookIcon,
  textEditorIcon
} from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import { getTask } from '../api';
import { ITaskDetail } from '../types';
import { basename, errorMessage, tracebackText } from '../util';
import { IconButton } from './IconButton';
import { LogView } from './LogView';

/**
 * A task's error (with its traceback, wrapped to the panel's width), its log, a button to open
 * the whole error and log in a main-area tab, and one to open its output notebook.
 */
export function TaskDetail(props: {
  batchId: string;
  taskId: string;
  tick: number;
  onOpenNotebook: (batchId: string, taskId: string) => void;
  onOpenError: (batchId: string, taskId: string) => void;
}): JSX.Element {
  const [detail, setDetail] = useState<ITaskDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [showLog, setShowLog] = useState(false);
  useEffect(() => {
    let live = true;
    getTask(props.batchId, props.taskId)
      .then(data => live && (setDetail(data), setError(null)))
      .catch(reason => live && setError(errorMessage(reason)));
    return () => {
      live = false;
    };
  }, [props.batchId, props.taskId, props.tick]);
  if (error) {
    return <div className="jp-TramwayTaskDetail jp-mod-error">{error}</div>;
  }
  if (!detail) {
    return <div className="jp-TramwayTaskDetail">Loading…</div>;
  }
  const err = detail.status?.error ?? null;
  const host = detail.status?.host;
  return (
    <div className="jp-TramwayTaskDetail">
      <div
        className="jp-TramwayTaskDetail-meta"
        title={`${detail.task.source}\n${detail.task.task_id}`}
      >
        {basename(detail.task.source)}
        {detail.task.roi_index !== null ? `, ROI ${detail.task.roi_index}` : ''}
        {` · job ${detail.task.job_index} · attempt ${detail.task.attempt}`}
        {host ? ` · ${host}` : ''}
      </div>
      {err && (
        <div className="jp-TramwayError">
          <div className="jp-TramwayError-summary">
            {err.ename}: {err.evalue}
            {err.cell_index !== undefined && err.cell_index !== null
              ? ` (cell ${err.cell_index})`
              : ''}
          </div>
          {err.traceback && (
            <pre className="jp-TramwayError-traceback">
              {tracebackText(err.traceback)}
            </pre>
          )}
        </div>
      )}
      {!err && detail.task.error && (
        <div className="jp-TramwayError">
          <div className="jp-TramwayError-summary">{detail.task.error}</div>
        </div>
      )}
      <div className="jp-TramwayTaskDetail-actions">
        <IconButton
          icon={textEditorIcon}
          label={showLog ? 'Hide log' : 'Log'}
          title="Show the job log of this task"
          onClick={() => setShowLog(!showLog)}
        />
        {(err || detail.task.error) && (
          <IconButton
            icon={launchIcon}
            label="Open in a tab"
            title="Open the whole error and the log of this task in a tab"
            onClick={() => props.onOpenError(props.batchId, props.taskId)}
          />
        )}
        <IconButton
          icon={notebookIcon}
          label="Open notebook"
          title="Open this task's output notebook in a tab"
          onClick={() => props.onOpenNotebook(props.batchId, props.taskId)}
        />
      </div>
      {showLog && (
        <LogView
          batchId={props.batchId}
          taskId={props.taskId}
          tick={props.tick}
        />
      )}
    </div>
  );
}
