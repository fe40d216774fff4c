import React, { useEffect, useState } from 'react';

import { listProfiles } from '../api';
import { IProfileCheck, IProfileList } from '../types';
import { errorMessage } from '../util';
import { FormField } from './FormField';

/** The profile dropdown, with a "Check" button showing `profiles --check`'s verdicts. */
export function ProfileField(props: {
  value: string;
  onChange: (value: string) => void;
  /** An error about this field from the form (the run's reply). */
  error?: string;
}): JSX.Element {
  const [profiles, setProfiles] = useState<IProfileList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [check, setCheck] = useState<IProfileCheck | null>(null);
  const [checking, setChecking] = useState(false);
  useEffect(() => {
    listProfiles()
      .then(setProfiles)
      .catch(reason => setError(errorMessage(reason)));
  }, []);
  const runCheck = async () => {
    setChecking(true);
    setCheck(null);
    setError(null);
    try {
      setCheck((await listProfiles(props.value)).check);
    } catch (reason) {
      setError(errorMessage(reason));
    } finally {
      setChecking(false);
    }
  };
  return (
    <FormField label="Profile" name="profile" error={error ?? props.error}>
      <div className="jp-TramwayField-row">
        <select
          className="jp-mod-styled"
          value={props.value}
          onChange={e => {
            setCheck(null);
            props.onChange(e.target.value);
          }}
        >
          {(profiles?.profiles ?? [{ name: props.value, backend: '' }]).map(
            p => (
              <option key={p.name} value={p.name}>
                {p.name}
                {p.backend && p.backend !== p.name ? ` (${p.backend})` : ''}
              </option>
            )
          )}
        </select>
        <button
          type="button"
          className="jp-TramwayButton jp-mod-check"
          disabled={checking}
          onClick={() => void runCheck()}
        >
          {checking ? 'Checking…' : 'Check'}
        </button>
      </div>
      {check && (
        <ul
          className={`jp-TramwayCheck ${check.ok ? 'jp-mod-ok' : 'jp-mod-bad'}`}
        >
          {check.checks.map(c => (
            <li key={c.name} title={c.fix}>
              {c.ok ? '✓' : '✗'} {c.name}: {c.detail}
              {!c.ok && c.fix && (
                <div className="jp-TramwayCheck-fix">{c.fix}</div>
              )}
            </li>
          ))}
        </ul>
      )}
    </FormField>
  );
}
