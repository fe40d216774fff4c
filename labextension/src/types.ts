/**
 * Payloads of the tramway-jupyter REST API (/tramway/api/), as written by
 * tramway_jupyter/server/service.py (BatchRow / JobRow / TaskRow .to_dict()).
 */

export type State =
  'pending' | 'queued' | 'running' | 'done' | 'failed' | 'lost' | 'cancelled';

export const STATES: State[] = [
  'pending',
  'queued',
  'running',
  'done',
  'failed',
  'lost',
  'cancelled'
];

export const ACTIVE_STATES: State[] = ['pending', 'queued', 'running'];
export const RETRYABLE_STATES: State[] = ['failed', 'lost', 'cancelled'];

export type Counts = Partial<Record<State, number>>;

export interface IBatch {
  batch_id: string;
  name: string;
  created: number;
  batch_dir: string;
  backend: string;
  profile: string;
  notebook: string | null;
  meta: Record<string, unknown>;
  counts: Counts;
  state: State;
  n_tasks: number;
  progress: number;
}

export interface IJob {
  batch_id: string;
  job_index: number;
  stage: string;
  attempt: number;
  state: State;
  backend_id: string | null;
  n_tasks: number;
  submitted: number | null;
  started: number | null;
  finished: number | null;
  reason: string | null;
}

export interface ITask {
  task_id: string;
  job_index: number;
  stage: string;
  source: string;
  roi_index: number | null;
  state: State;
  attempt: number;
  started: number | null;
  finished: number | null;
  duration: number | null;
  error: string | null;
  notebook: string | null;
  fingerprint: string | null;
  cached_from: string | null;
  records?: string[];
  results?: string | null;
}

/** Keys the task listing may be sorted by (the store's TASK_SORT_KEYS). */
export type TaskSortKey =
  | 'rowid'
  | 'task_id'
  | 'stage'
  | 'source'
  | 'roi_index'
  | 'state'
  | 'attempt'
  | 'started'
  | 'finished'
  | 'duration';

/** Query parameters of GET /tramway/api/batches/<id> (all optional). */
export interface ITaskQuery {
  state?: State[];
  stage?: string;
  sort?: TaskSortKey;
  order?: 'asc' | 'desc';
  offset?: number;
  /** Default 100, at most 1000. */
  limit?: number;
  jobs_offset?: number;
  /** 0: no job list (the counts are always there). */
  jobs_limit?: number;
}

export interface ITaskError {
  cell_index?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string | string[];
  source?: string;
}

export interface ITaskStatus {
  state: State;
  attempt?: number;
  host?: string | null;
  error?: ITaskError | null;
  notebook?: string | null;
  [key: string]: unknown;
}

export interface IAttempt {
  attempt: number;
  job_index: number;
  state: State;
  started: number | null;
  finished: number | null;
  host: string | null;
  error: string | null;
}

export interface IBatchList {
  batches: IBatch[];
}

/** Stage -> state -> number of tasks, stages in pipeline order. */
export type StageCounts = Record<string, Counts>;

/** GET /batches/<id>/counts (or ?tasks=0): the cheap poll, no task, no job. */
export interface IBatchCounts {
  batch: IBatch;
  stages: StageCounts;
  job_counts: Counts;
  n_jobs: number;
}

/** GET /batches/<id>: the counts and ONE page of tasks (and of jobs), never every task. */
export interface IBatchDetail extends IBatchCounts {
  tasks: ITask[];
  /** Tasks matching the filter (all pages). */
  total: number;
  offset: number;
  limit: number;
  sort: TaskSortKey;
  order: 'asc' | 'desc';
  state: State[] | null;
  stage: string | null;
  jobs: IJob[];
  jobs_offset: number;
  jobs_limit: number;
}

/** GET /batches/<id>/jobs */
export interface IJobPage {
  batch_id: string;
  jobs: IJob[];
  total: number;
  offset: number;
  limit: number;
  state: State[] | null;
}

export interface ITaskDetail {
  batch_id: string;
  task: ITask;
  status: ITaskStatus | null;
  attempts: IAttempt[];
}

export interface ITaskLog {
  batch_id: string;
  task_id: string;
  job_index: number;
  attempt: number;
  path: string;
  truncated: boolean;
  log: string;
}

export interface INotebookPath {
  batch_id: string;
  task_id: string;
  path: string;
}

export interface IActionResult {
  batch: IBatch;
  cancelled?: number[] | null;
  retried?: number;
}
