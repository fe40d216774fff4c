import { LabIcon } from '@jupyterlab/ui-components';
import React from 'react';

/** A compact toolbar-style button with an icon and a short label. */
export function IconButton(props: {
  icon: LabIcon;
  label: string;
  title: string;
  onClick: () => void;
  disabled?: boolean;
  className?: string;
}): JSX.Element {
  return (
    <button
      type="button"
      className={`jp-TramwayButton ${props.className ?? ''}`}
      title={props.title}
      disabled={props.disabled}
      onClick={e => {
        e.stopPropagation();
        props.onClick();
      }}
    >
      <props.icon.react tag="span" className="jp-TramwayButton-icon" />
      <span className="jp-TramwayButton-label">{props.label}</span>
    </button>
  );
}
