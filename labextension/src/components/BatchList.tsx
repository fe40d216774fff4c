import {
  addIcon,
  refreshIcon,
  ToolbarButtonComponent
} from '@jupyterlab/ui-components';
import React, { useEffect, useRef, useState } from 'react';

import { BatchesModel } from '../model';
import { BatchFilter, matchesFilter } from './BatchFilter';
import { BatchItem, IBatchActions } from './BatchItem';
import { EmptyState } from './EmptyState';
import { RunForm } from './RunForm';

/** The whole panel: a header, then the batches (newest first) or the empty state. */
export function BatchList(props: {
  model: BatchesModel;
  actions: IBatchActions;
  onRefresh: () => void;
  /** The notebook the Run form proposes (the Lab's current one), if any. */
  currentNotebook: () => string | null;
}): JSX.Element {
  const { model } = props;
  const [, setVersion] = useState(0);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const root = useRef<HTMLDivElement>(null);
  const [form, setForm] = useState<string | null>(null); // its initial notebook
  const [query, setQuery] = useState('');
  useEffect(() => {
    const onChange = () => setVersion(v => v + 1);
    model.changed.connect(onChange);
    return () => {
      model.changed.disconnect(onChange);
    };
  }, [model]);
  useEffect(() => {
    const onReveal = (_: BatchesModel, id: string) => {
      model.takeReveal();
      setExpanded(prev => new Set(prev).add(id));
      requestAnimationFrame(() =>
        root.current
          ?.querySelector(`[data-batch-id="${CSS.escape(id)}"]`)
          ?.scrollIntoView({ block: 'nearest' })
      );
    };
    model.revealRequested.connect(onReveal);
    const pending = model.takeReveal();
    if (pending !== null) {
      onReveal(model, pending);
    }
    return () => {
      model.revealRequested.disconnect(onReveal);
    };
  }, [model]);
  const toggle = (id: string) => {
    const next = new Set(expanded);
    if (next.has(id)) {
      next.delete(id);
    } else {
      next.add(id);
    }
    setExpanded(next);
  };
  const all = model.batches;
  const batches = all && all.filter(b => matchesFilter(b, query));
  const started = (batchId: string) => {
    setForm(null);
    setExpanded(new Set([...expanded, batchId]));
    props.onRefresh();
  };
  return (
    <div className="jp-TramwayBatches" ref={root}>
      <div className="jp-TramwayBatches-header">
        <h2 className="jp-TramwayBatches-title">TRamWAy jobs</h2>
        <ToolbarButtonComponent
          icon={addIcon}
          label="New batch"
          tooltip="Run a notebook's %%tramway pipeline over data files"
          className="jp-TramwayNewBatch"
          onClick={() =>
            setForm(form === null ? (props.currentNotebook() ?? '') : null)
          }
        />
        <ToolbarButtonComponent
          icon={refreshIcon}
          tooltip="Refresh now"
          onClick={props.onRefresh}
        />
      </div>
      {form !== null && (
        <RunForm
          initialNotebook={form}
          onStarted={started}
          onClose={() => setForm(null)}
        />
      )}
      {all !== null && all.length > 0 && (
        <BatchFilter
          value={query}
          onChange={setQuery}
          shown={batches?.length ?? 0}
          total={all.length}
        />
      )}
      {model.error && (
        <div className="jp-TramwayBatches-error">
          Cannot reach the tramway-jupyter server extension: {model.error}
        </div>
      )}
      {batches === null && !model.error && (
        <div className="jp-TramwayBatches-loading">Loading…</div>
      )}
      {all !== null && all.length === 0 && <EmptyState />}
      {all !== null && all.length > 0 && batches?.length === 0 && (
        <div className="jp-TramwayBatches-loading">
          No batch matches “{query}”.
        </div>
      )}
      {batches !== null && batches.length > 0 && (
        <ul className="jp-TramwayBatches-list">
          {batches.map(b => (
            <BatchItem
              key={b.batch_id}
              batch={b}
              expanded={expanded.has(b.batch_id)}
              tick={model.tick}
              onToggle={toggle}
              actions={props.actions}
            />
          ))}
        </ul>
      )}
    </div>
  );
}
