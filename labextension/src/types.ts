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

export interface IBatchDetail {
  batch: IBatch;
  jobs: IJob[];
  tasks: ITask[];
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
