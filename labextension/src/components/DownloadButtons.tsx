import { downloadIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { downloadURL } from '../api';

/** Links that download a batch's results: the --json document, or a CSV of its scalar records. */
export function DownloadButtons(props: { batchId: string }): JSX.Element {
  const link = (format: 'json' | 'csv', label: string, title: string) => (
    <a
      className={`jp-TramwayButton jp-mod-download jp-mod-${format}`}
      href={downloadURL(props.batchId, format)}
      download={`tramway-${props.batchId}.${format}`}
      title={title}
      onClick={e => e.stopPropagation()}
    >
      <downloadIcon.react tag="span" className="jp-TramwayButton-icon" />
      <span className="jp-TramwayButton-label">{label}</span>
    </a>
  );
  return (
    <>
      {link(
        'json',
        'JSON',
        'Download the results as JSON (tramway-jupyter gather --json)'
      )}
      {link(
        'csv',
        'CSV',
        'Download one row per task with its scalar records (CSV)'
      )}
    </>
  );
}
