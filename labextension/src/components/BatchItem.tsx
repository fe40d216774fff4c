import {
  caretDownIcon,
  caretRightIcon,
  closeIcon,
  refreshIcon,
  stopIcon
} from '@jupyterlab/ui-components';
import React from 'react';

import { ACTIVE_STATES, IBatch, RETRYABLE_STATES, State } from '../types';
import { formatDuration, formatTime } from '../util';
import { BatchSummaryView } from './BatchSummaryView';
import { DownloadButtons } from './DownloadButtons';
import { IconButton } from './IconButton';
import { JobList } from './JobList';
import { ProgressBar } from './ProgressBar';
import { StateBadge } from './StateBadge';
import { TaskList } from './TaskList';

export interface IBatchActions {
  cancel: (batch: IBatch) => void;
  retry: (batch: IBatch) => void;
  /** Delete the batch (after asking). */
  delete: (batch: IBatch) => void;
  /** Cancel one job of the batch. */
  cancelJob: (batchId: string, jobIndex: number) => Promise<void>;
  openNotebook: (batchId: string, taskId: string) => void;
  /** Open the task's whole error and its log in a main-area tab. */
  openTaskError: (batchId: string, taskId: string) => void;
}

function countsText(b: IBatch): string {
  const c = b.counts;
  const n = (s: State) => c[s] ?? 0;
  const parts = [`${n('done')}/${b.n_tasks} done`];
  if (n('running')) {
    parts.push(`${n('running')} running`);
  }
  if (n('queued') + n('pending')) {
    parts.push(`${n('queued') + n('pending')} queued`);
  }
  if (n('failed') + n('lost')) {
    parts.push(`${n('failed') + n('lost')} failed`);
  }
  if (n('cancelled')) {
    parts.push(`${n('cancelled')} cancelled`);
  }
  if (
    b.eta !== null &&
    b.eta !== undefined &&
    ACTIVE_STATES.includes(b.state)
  ) {
    parts.push(`~${formatDuration(b.eta)} left`);
  }
  return parts.join(' · ');
}

/** One batch: name, state, progress bar, counts, actions; expands to its tasks. */
export function BatchItem(props: {
  batch: IBatch;
  expanded: boolean;
  tick: number;
  onToggle: (batchId: string) => void;
  actions: IBatchActions;
}): JSX.Element {
  const b = props.batch;
  const active = ACTIVE_STATES.includes(b.state);
  const retryable = RETRYABLE_STATES.reduce(
    (a, s) => a + (b.counts[s] ?? 0),
    0
  );
  const failed = (b.counts.failed ?? 0) + (b.counts.lost ?? 0);
  const Caret = props.expanded ? caretDownIcon : caretRightIcon;
  return (
    <li
      className={`jp-TramwayBatch${props.expanded ? ' jp-mod-expanded' : ''}`}
      data-batch-id={b.batch_id}
      data-state={b.state}
    >
      <div
        className="jp-TramwayBatch-header"
        role="button"
        tabIndex={0}
        onClick={() => props.onToggle(b.batch_id)}
        onKeyDown={e => e.key === 'Enter' && props.onToggle(b.batch_id)}
      >
        <Caret.react tag="span" className="jp-TramwayCaret" />
        <span
          className="jp-TramwayBatch-name"
          title={b.name ? `${b.name}\n${b.batch_id}` : b.batch_id}
        >
          {b.name || b.batch_id}
        </span>
        <StateBadge state={b.state} />
      </div>
      <div className="jp-TramwayBatch-body">
        <ProgressBar counts={b.counts} />
        <div className="jp-TramwayBatch-meta">
          <span className="jp-TramwayBatch-counts" title={countsText(b)}>
            {countsText(b)}
          </span>
          <span
            className="jp-TramwayBatch-when"
            title={`${b.profile} · ${formatTime(b.created)}\n${b.batch_dir}`}
          >
            {b.profile} · {formatTime(b.created)}
          </span>
        </div>
        <div className="jp-TramwayBatch-actions">
          {active && (
            <IconButton
              icon={stopIcon}
              label="Cancel"
              title="Cancel the jobs of this batch that have not finished"
              className="jp-mod-cancel"
              onClick={() => props.actions.cancel(b)}
            />
          )}
          {!active && retryable > 0 && (
            <IconButton
              icon={refreshIcon}
              label={failed ? `Retry ${failed} failed` : 'Retry'}
              title="Run the failed, lost and cancelled tasks again"
              className="jp-mod-retry"
              onClick={() => props.actions.retry(b)}
            />
          )}
          <DownloadButtons batchId={b.batch_id} />
          <IconButton
            icon={closeIcon}
            label="Delete"
            title="Delete this batch (cancels what still runs)"
            className="jp-mod-delete"
            onClick={() => props.actions.delete(b)}
          />
        </div>
      </div>
      {props.expanded && active && (
        <JobList
          batchId={b.batch_id}
          tick={props.tick}
          onCancel={props.actions.cancelJob}
        />
      )}
      {props.expanded && !active && (
        <BatchSummaryView batchId={b.batch_id} tick={props.tick} />
      )}
      {props.expanded && (
        <TaskList
          batchId={b.batch_id}
          tick={props.tick}
          initialFilter={failed > 0 && !active ? 'failed' : ''}
          onOpenNotebook={props.actions.openNotebook}
          onOpenError={props.actions.openTaskError}
        />
      )}
    </li>
  );
}
