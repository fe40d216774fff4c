import React from 'react';

/** Shown when the store has no batch yet: how to start one. */
export function EmptyState(): JSX.Element {
  return (
    <div className="jp-TramwayEmpty">
      <p className="jp-TramwayEmpty-title">No batches yet</p>
      <p>Start one from a notebook:</p>
      <pre className="jp-TramwayEmpty-code">
        {[
          '%load_ext tramway_jupyter',
          '',
          '%%tramway stage infer --per roi',
          '...',
          '',
          '%tramway run --data "*.rpt.txt"'
        ].join('\n')}
      </pre>
      <p>
        Each cell marked <code>%%tramway stage</code> runs once per data file or
        ROI. The batch appears here as soon as it is submitted.
      </p>
    </div>
  );
}
