import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { ITask } from '../types';
import { basename, formatDuration } from '../util';
import { StateBadge } from './StateBadge';
import { TaskDetail } from './TaskDetail';

/** One task: state, what it ran on, duration, error summary; expands to its details. */
export function TaskItem(props: {
  batchId: string;
  task: ITask;
  expanded: boolean;
  tick: number;
  onToggle: (taskId: string) => void;
  onOpenNotebook: (batchId: string, taskId: string) => void;
  onOpenError: (batchId: string, taskId: string) => void;
}): JSX.Element {
  const t = props.task;
  const Caret = props.expanded ? caretDownIcon : caretRightIcon;
  const roi = t.roi_index !== null ? ` · ROI ${t.roi_index}` : '';
  const window =
    t.t_start !== null && t.t_end !== null
      ? ` · ${t.t_start}–${t.t_end} s`
      : '';
  const sweep = Object.entries(t.sweep)
    .map(([k, v]) => ` · ${k}=${JSON.stringify(v)}`)
    .join('');
  return (
    <li
      className="jp-TramwayTask"
      data-task-id={t.task_id}
      data-state={t.state}
    >
      <div
        className="jp-TramwayTask-row"
        role="button"
        tabIndex={0}
        title={t.task_id}
        onClick={() => props.onToggle(t.task_id)}
        onKeyDown={e => e.key === 'Enter' && props.onToggle(t.task_id)}
      >
        <Caret.react tag="span" className="jp-TramwayCaret" />
        <span
          className="jp-TramwayTask-name"
          title={`${t.stage} · ${t.source}${roi}${window}${sweep}\n${t.task_id}`}
        >
          {t.stage} · {basename(t.source)}
          {roi}
          {window}
          {sweep}
        </span>
        <span className="jp-TramwayTask-duration">
          {formatDuration(t.duration)}
        </span>
        <StateBadge state={t.state} />
      </div>
      {t.error && !props.expanded && (
        <div className="jp-TramwayTask-error" title={t.error}>
          {t.error}
        </div>
      )}
      {props.expanded && (
        <TaskDetail
          batchId={props.batchId}
          taskId={t.task_id}
          tick={props.tick}
          onOpenNotebook={props.onOpenNotebook}
          onOpenError={props.onOpenError}
        />
      )}
    </li>
  );
}
