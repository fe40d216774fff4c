/**
 * Payloads of the tramway-jupyter REST API (/tramway/api/): the names the sidebar uses for the
 * types generated from tramway_jupyter/server/payloads.py (./generated/api-types.ts, written by
 * `python -m tramway_jupyter.server.schema`; a test fails when it drifts), state lists included.
 */

import type * as api from './generated/api-types';

export type State = api.State;

export {
  ACTIVE_STATES,
  FINAL_STATES,
  RETRYABLE_STATES,
  STATES
} from './generated/api-types';

export type Counts = Partial<Record<State, number>>;

export type IBatch = api.BatchInfo;
export type IJob = api.JobInfo;
export type ITask = api.TaskInfo;

/** Keys the task listing may be sorted by (the store's TASK_SORT_KEYS). */
export type TaskSortKey = api.BatchDetail['sort'];

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

export type ITaskError = api.TaskError;
export type ITaskStatus = api.TaskStatus;
export type IAttempt = api.Attempt;
export type IBatchList = api.BatchList;

/** Stage -> state -> number of tasks, stages in pipeline order. */
export type StageCounts = Record<string, Counts>;

/** GET /batches/<id>/counts (or ?tasks=0): the cheap poll, no task, no job. */
export type IBatchCounts = api.BatchCounts;
/** GET /batches/<id>: the counts and ONE page of tasks (and of jobs), never every task. */
export type IBatchDetail = api.BatchDetail;
/** GET /batches/<id>/jobs */
export type IJobPage = api.JobPage;
export type ITaskDetail = api.TaskDetail;
export type ITaskLog = api.TaskLog;
export type INotebookPath = api.NotebookPath;
export type IActionResult = api.CancelResult | api.RetryResult;
/** A batch ended, or a running batch's first failures (GET /events). */
export type IBatchEvent = api.BatchEvent;
/** GET /events?after=ID: the events after ID, the latest id, the server's log id. */
export type IEventList = api.EventList;

/** GET /profiles (?check=NAME: with that profile's check). */
export type IProfileList = api.ProfileList;
export type IProfileCheck = api.ProfileCheck;
/** GET /glob?pattern=: the data files a pattern matches. */
export type IGlobCount = api.GlobCount;
/** GET /notebook-pipeline?path=: a notebook's %%tramway cells. */
export type INotebookPipeline = api.NotebookPipeline;
export type IRunStarted = api.RunStarted;
export type IDryRunResult = api.DryRunResult;
export type IDeleteResult = api.DeleteResult;
/** GET /batches/<id>/summary: durations histogram and failures grouped by message. */
export type IBatchSummary = api.BatchSummary;
export type IDurationHistogram = api.DurationHistogram;

/** The body of POST /run (what `tramway-jupyter run` takes, as texts). */
export interface IRunRequest {
  notebook: string;
  data: string;
  rois?: string;
  profile?: string;
  workers?: number;
  /** name -> Python literal text (--param name=text). */
  params?: Record<string, string>;
  /** name -> "v1,v2" (--sweep name=v1,v2). */
  sweep?: Record<string, string>;
  segments?: string;
  name?: string;
  dry_run?: boolean;
}
export type IPrompt = api.Prompt;
export type IPromptList = api.PromptList;
export type IPromptAnswered = api.PromptAnswered;
