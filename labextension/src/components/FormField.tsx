import React from 'react';

/** A labelled field of the Run form, with a hint or an error under it. */
export function FormField(props: {
  label: string;
  name: string;
  error?: string | null;
  hint?: React.ReactNode;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <div className="jp-TramwayField" data-field={props.name}>
      <label className="jp-TramwayField-label">
        <span>{props.label}</span>
        {props.children}
      </label>
      {props.error ? (
        <div className="jp-TramwayField-error" role="alert">
          {props.error}
        </div>
      ) : (
        props.hint && <div className="jp-TramwayField-hint">{props.hint}</div>
      )}
    </div>
  );
}

/** A one-line text field of the Run form. */
export function TextField(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  placeholder: string;
  error?: string | null;
  hint?: React.ReactNode;
}): JSX.Element {
  return (
    <FormField
      label={props.label}
      name={props.name}
      error={props.error}
      hint={props.hint}
    >
      <input
        className="jp-mod-styled"
        type="text"
        value={props.value}
        placeholder={props.placeholder}
        onChange={e => props.onChange(e.target.value)}
      />
    </FormField>
  );
}
