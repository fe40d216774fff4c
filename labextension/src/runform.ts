/** Pure helpers of the Run form: the NAME=VALUE fields, and which field a server error is about. */

/** Fields of the Run form an error can be shown under. */
export type RunField =
  | 'notebook'
  | 'data'
  | 'rois'
  | 'profile'
  | 'workers'
  | 'params'
  | 'sweep'
  | 'segments'
  | 'name'
  | 'run';

/** `NAME=VALUE` lines (or `;`-separated) as a map; an error names the bad line. */
export function parseAssignments(
  text: string,
  what: '--param' | '--sweep'
): { values: Record<string, string>; error: string | null } {
  const values: Record<string, string> = {};
  const lines = text
    .split(/\n/)
    .map(s => s.trim())
    .filter(s => s.length > 0);
  for (const line of lines) {
    const eq = line.indexOf('=');
    const name = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      const example = what === '--param' ? 'sigma=0.02' : 'sigma=0.02,0.03';
      return {
        values,
        error: `${what} needs NAME=VALUE, one per line (like ${example}), got '${line}'`
      };
    }
    values[name] = line.slice(eq + 1).trim();
  }
  return { values, error: null };
}

/** The field a server message is about (else the Run button). */
export function fieldOf(message: string): RunField {
  const rules: [RegExp, RunField][] = [
    [/--param|parameters cell/, 'params'],
    [/--sweep|swept/, 'sweep'],
    [/segment|window/, 'segments'],
    [/no data file matches|'data'/, 'data'],
    [/notebook|%%tramway/, 'notebook'],
    [/profile/, 'profile'],
    [/workers/, 'workers'],
    [/rois|ROI/, 'rois']
  ];
  for (const [re, field] of rules) {
    if (re.test(message)) {
      return field;
    }
  }
  return 'run';
}
