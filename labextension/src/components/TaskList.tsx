import React, { useCallback, useEffect, useRef, useState } from 'react';

import { getBatch } from '../api';
import { IBatchCounts, ITask, State } from '../types';
import { errorMessage } from '../util';
import { StateFilter } from './StateFilter';
import { TaskCounts } from './TaskCounts';
import { TaskItem } from './TaskItem';
import { VirtualList } from './VirtualList';

/** Tasks are fetched in blocks of this many rows, at most MAX_FETCH rows per request. */
const BLOCK = 50;
const MAX_FETCH = 200;
/** Height of a collapsed task row before it is measured (px). */
const ROW_HEIGHT = 24;
/** Wait this long after scrolling stops before fetching the rows now in view (ms). */
const SCROLL_FETCH_DELAY = 80;

/**
 * The tasks of an expanded batch: per-state and per-stage counts (click to filter), and a
 * windowed list fetched page by page. A poll (`tick`) costs one request: the counts and the
 * rows in view, whatever the size of the batch.
 */
export function TaskList(props: {
  batchId: string;
  tick: number;
  initialFilter: State | '';
  onOpenNotebook: (batchId: string, taskId: string) => void;
  onOpenError: (batchId: string, taskId: string) => void;
}): JSX.Element {
  const { batchId } = props;
  const [filter, setFilter] = useState<State | ''>(props.initialFilter);
  const [stage, setStage] = useState('');
  const [summary, setSummary] = useState<IBatchCounts | null>(null);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [blocks, setBlocks] = useState<Map<number, ITask[]>>(new Map());
  const blocksRef = useRef(blocks);
  blocksRef.current = blocks;
  const range = useRef<[number, number]>([0, BLOCK]);
  const pending = useRef(new Set<number>());
  const generation = useRef(0); // replies to an older filter are dropped
  const lastKey = useRef<string | null>(null);
  const scrollTimer = useRef<number | null>(null);
  const filterKey = `${filter}\u0000${stage}`;

  /** Fetch the blocks covering rows [start, end); `replace` drops every other cached row. */
  const fetchRows = useCallback(
    async (start: number, end: number, replace: boolean) => {
      const gen = generation.current;
      const b0 = Math.floor(start / BLOCK);
      const b1 = Math.floor(Math.max(start, end - 1) / BLOCK);
      const n = Math.min(b1 - b0 + 1, MAX_FETCH / BLOCK);
      for (let b = b0; b < b0 + n; b++) {
        pending.current.add(b);
      }
      try {
        const data = await getBatch(batchId, {
          state: filter ? [filter] : undefined,
          stage: stage || undefined,
          offset: b0 * BLOCK,
          limit: n * BLOCK,
          jobs_limit: 0
        });
        if (gen !== generation.current) {
          return;
        }
        setSummary(data);
        setTotal(data.total);
        setError(null);
        setBlocks(prev => {
          const next = replace ? new Map<number, ITask[]>() : new Map(prev);
          for (let k = 0; k < n; k++) {
            next.set(b0 + k, data.tasks.slice(k * BLOCK, (k + 1) * BLOCK));
          }
          return next;
        });
      } catch (reason) {
        if (gen === generation.current) {
          setError(errorMessage(reason));
        }
      } finally {
        for (let b = b0; b < b0 + n; b++) {
          pending.current.delete(b);
        }
      }
    },
    [batchId, filter, stage]
  );

  // at every poll, and when the filter changes: the counts + the rows in view, one request
  useEffect(() => {
    if (lastKey.current !== filterKey) {
      lastKey.current = filterKey;
      generation.current += 1;
      pending.current.clear();
      range.current = [0, BLOCK];
      setBlocks(new Map());
      setTotal(null);
    }
    const [start, end] = range.current;
    void fetchRows(start, end, true);
  }, [batchId, props.tick, filterKey, fetchRows]);

  useEffect(
    () => () => {
      if (scrollTimer.current !== null) {
        window.clearTimeout(scrollTimer.current);
      }
    },
    []
  );

  // scrolled: fetch the rows now in view that are not loaded (once scrolling pauses)
  const onRangeChange = useCallback(
    (start: number, end: number) => {
      range.current = [start, end];
      if (scrollTimer.current !== null) {
        window.clearTimeout(scrollTimer.current);
      }
      scrollTimer.current = window.setTimeout(() => {
        scrollTimer.current = null;
        const [s, e] = range.current;
        let first = -1;
        let last = -1;
        for (let b = Math.floor(s / BLOCK); b * BLOCK < e; b++) {
          if (!blocksRef.current.has(b) && !pending.current.has(b)) {
            first = first < 0 ? b : first;
            last = b;
          }
        }
        if (first >= 0) {
          void fetchRows(first * BLOCK, (last + 1) * BLOCK, false);
        }
      }, SCROLL_FETCH_DELAY);
    },
    [fetchRows]
  );

  const setFilters = (state: State | '', stageName: string) => {
    setFilter(state);
    setStage(stageName);
  };

  const renderRow = (i: number): React.ReactElement => {
    const t = blocks.get(Math.floor(i / BLOCK))?.[i % BLOCK];
    if (!t) {
      return (
        <li
          key={`row-${i}`}
          className="jp-TramwayTask-placeholder"
          style={{ height: ROW_HEIGHT }}
        >
          …
        </li>
      );
    }
    return (
      <TaskItem
        key={t.task_id}
        batchId={batchId}
        task={t}
        expanded={open === t.task_id}
        tick={props.tick}
        onToggle={id => setOpen(open === id ? null : id)}
        onOpenNotebook={props.onOpenNotebook}
        onOpenError={props.onOpenError}
      />
    );
  };

  const nJobs = summary?.n_jobs ?? 0;
  return (
    <div className="jp-TramwayTasks">
      {summary && (
        <TaskCounts
          counts={summary.batch.counts}
          stages={summary.stages}
          state={filter}
          stage={stage}
          onFilter={setFilters}
        />
      )}
      <div className="jp-TramwayTasks-toolbar">
        <StateFilter value={filter} onChange={s => setFilters(s, stage)} />
        {stage && (
          <button
            type="button"
            className="jp-TramwayTasks-stageFilter"
            title="Show every stage"
            onClick={() => setFilters(filter, '')}
          >
            stage {stage} ✕
          </button>
        )}
        {total !== null && (
          <span className="jp-TramwayTasks-count">
            {total.toLocaleString()} task{total === 1 ? '' : 's'}
            {` · ${nJobs.toLocaleString()} job${nJobs === 1 ? '' : 's'}`}
          </span>
        )}
      </div>
      {error && <div className="jp-TramwayTasks-error">{error}</div>}
      {total === null && !error && (
        <div className="jp-TramwayTasks-empty">Loading tasks…</div>
      )}
      {total === 0 && (
        <div className="jp-TramwayTasks-empty">
          No {filter} tasks{stage ? ` in stage ${stage}` : ''}.
        </div>
      )}
      {total !== null && total > 0 && (
        <VirtualList
          count={total}
          estimatedHeight={ROW_HEIGHT}
          renderRow={renderRow}
          onRangeChange={onRangeChange}
          resetKey={filterKey}
          className="jp-TramwayTasks-viewport"
          listClassName="jp-TramwayTasks-list"
        />
      )}
    </div>
  );
}
