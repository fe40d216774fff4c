/**
 * Typed client of the tramway-jupyter server extension: one requestAPI<T>(),
 * one function per REST route.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IActionResult,
  IBatchCounts,
  IBatchDetail,
  IBatchList,
  IEventList,
  IBatchSummary,
  IDeleteResult,
  IDryRunResult,
  IGlobCount,
  IJobPage,
  INotebookPath,
  INotebookPipeline,
  IProfileList,
  IPromptAnswered,
  IPromptList,
  IRunRequest,
  IRunStarted,
  ITaskDetail,
  ITaskLog,
  ITaskQuery,
  State
} from './types';

const NAMESPACE = 'tramway/api';

/** An HTTP error with the server's message (404, 409...). */
export class TramwayAPIError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

function isMessage(data: unknown): data is { message: string } {
  return (
    typeof data === 'object' &&
    data !== null &&
    typeof (data as { message?: unknown }).message === 'string'
  );
}

export async function requestAPI<T>(
  path: string[],
  init: RequestInit = {},
  query: Record<string, string> = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  let url = URLExt.join(
    settings.baseUrl,
    NAMESPACE,
    ...path.map(encodeURIComponent)
  );
  const qs = URLExt.objectToQueryString(query);
  if (Object.keys(query).length) {
    url += qs;
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const msg = isMessage(data)
      ? data.message
      : `${response.status} ${response.statusText}`;
    throw new TramwayAPIError(response.status, msg);
  }
  return data as T;
}

export function listBatches(): Promise<IBatchList> {
  return requestAPI<IBatchList>(['batches']);
}

/** The batch, its counts and one page of its tasks (the server never sends all of them). */
export function getBatch(
  batchId: string,
  query: ITaskQuery = {}
): Promise<IBatchDetail> {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') {
      continue;
    }
    params[key] = Array.isArray(value) ? value.join(',') : String(value);
  }
  if (params.state === '') {
    delete params.state;
  }
  return requestAPI<IBatchDetail>(['batches', batchId], {}, params);
}

/** The batch and its counts only. */
export function getBatchCounts(batchId: string): Promise<IBatchCounts> {
  return requestAPI<IBatchCounts>(['batches', batchId, 'counts']);
}

/** A page of the batch's jobs. */
export function getJobs(
  batchId: string,
  offset = 0,
  limit = 100,
  states: State[] = []
): Promise<IJobPage> {
  const params: Record<string, string> = {
    offset: String(offset),
    limit: String(limit)
  };
  if (states.length) {
    params.state = states.join(',');
  }
  return requestAPI<IJobPage>(['batches', batchId, 'jobs'], {}, params);
}

export function getTask(batchId: string, taskId: string): Promise<ITaskDetail> {
  return requestAPI<ITaskDetail>(['batches', batchId, 'tasks', taskId]);
}

export function getTaskLog(batchId: string, taskId: string): Promise<ITaskLog> {
  return requestAPI<ITaskLog>(['batches', batchId, 'tasks', taskId, 'log']);
}

export function getTaskNotebook(
  batchId: string,
  taskId: string
): Promise<INotebookPath> {
  return requestAPI<INotebookPath>([
    'batches',
    batchId,
    'tasks',
    taskId,
    'notebook'
  ]);
}

export function cancelBatch(
  batchId: string,
  jobs?: number[]
): Promise<IActionResult> {
  return requestAPI<IActionResult>(['batches', batchId, 'cancel'], {
    method: 'POST',
    body: JSON.stringify(jobs ? { jobs } : {})
  });
}

export function cancelJob(
  batchId: string,
  jobIndex: number
): Promise<IActionResult> {
  return requestAPI<IActionResult>(
    ['batches', batchId, 'jobs', String(jobIndex), 'cancel'],
    { method: 'POST', body: '{}' }
  );
}

export function retryBatch(batchId: string): Promise<IActionResult> {
  return requestAPI<IActionResult>(['batches', batchId, 'retry'], {
    method: 'POST',
    body: '{}'
  });
}

/** The batch events (ended, first failures) after id `after` (0: every one the server keeps). */
export function listEvents(after = 0): Promise<IEventList> {
  return requestAPI<IEventList>(['events'], {}, { after: String(after) });
}

/** The profiles; with `check`, that profile's check (it may take seconds). */
export function listProfiles(check?: string): Promise<IProfileList> {
  return requestAPI<IProfileList>(['profiles'], {}, check ? { check } : {});
}

/** How many data files a glob (relative to the server root) matches. */
export function globCount(pattern: string): Promise<IGlobCount> {
  return requestAPI<IGlobCount>(['glob'], {}, { pattern });
}

export function notebookPipeline(path: string): Promise<INotebookPipeline> {
  return requestAPI<INotebookPipeline>(['notebook-pipeline'], {}, { path });
}

/** Start a batch (or, with `dry_run`, estimate it). */
export function startRun(
  body: IRunRequest
): Promise<IRunStarted | IDryRunResult> {
  return requestAPI<IRunStarted | IDryRunResult>(['run'], {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

export function deleteBatch(batchId: string): Promise<IDeleteResult> {
  return requestAPI<IDeleteResult>(['batches', batchId], { method: 'DELETE' });
}

export function getSummary(batchId: string): Promise<IBatchSummary> {
  return requestAPI<IBatchSummary>(['batches', batchId, 'summary']);
}

/**
 * The URL of a batch's results as a file (JSON or a CSV of its scalar records). Followed by
 * the browser, authenticated by the Lab's login cookie (no token in the link).
 */
export function downloadURL(
  batchId: string,
  format: 'json' | 'csv',
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  const url = URLExt.join(
    settings.baseUrl,
    NAMESPACE,
    'batches',
    encodeURIComponent(batchId),
    'download'
  );
  return url + URLExt.objectToQueryString({ format });
}

/** The logins waiting for the user's answers (a one-time code, a key's passphrase). */
export function listPrompts(): Promise<IPromptList> {
  return requestAPI<IPromptList>(['prompts']);
}

/** Hand the answers to the waiting login (or dismiss it with null). */
export function answerPrompt(
  promptId: string,
  answers: string[] | null
): Promise<IPromptAnswered> {
  return requestAPI<IPromptAnswered>(['prompts', promptId], {
    method: 'POST',
    body: JSON.stringify(answers === null ? { cancel: true } : { answers })
  });
}
