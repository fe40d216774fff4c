/**
 * JupyterLab notifications of batch events (a batch ended, a running batch's first failures).
 *
 * The server's refresher notices them, with or without an open notebook (GET events); this
 * polls from the plugin, not from the sidebar widget, so they come with the panel closed. The
 * last event shown is kept in localStorage with the server's log id: a reloaded page shows what
 * happened meanwhile, a first load (or a restarted server) starts after the latest event.
 */
import { Notification } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { Poll } from '@lumino/polling';

import { listEvents } from './api';
import { IBatchEvent, IEventList } from './types';

/** Poll every 5 s (the server's refresher ticks as often); back off on errors up to 60 s. */
const INTERVAL = 5000;
const MAX_INTERVAL = 60 * 1000;
/** A page back after a long absence shows at most this many (the newest). */
const MAX_SHOWN = 5;
/** Per server (JupyterHub users may share an origin). */
const STORAGE_KEY = `tramway-jupyter:last-event:${PageConfig.getBaseUrl()}`;

function notify(event: IBatchEvent, reveal: (batchId: string) => void): void {
  const options = {
    autoClose: 10000 as number | false,
    actions: [
      {
        label: 'Show in sidebar',
        caption: `Open the TRamWAy jobs panel on batch ${event.batch_id}`,
        displayType: 'accent' as const,
        callback: () => reveal(event.batch_id)
      }
    ]
  };
  if (event.kind === 'failing') {
    Notification.warning(event.message, { ...options, autoClose: 20000 });
  } else if (event.n_failed > 0) {
    Notification.error(event.message, { ...options, autoClose: 20000 });
  } else if (event.state === 'done') {
    Notification.success(event.message, options);
  } else {
    Notification.info(event.message, options);
  }
}

export class BatchNotifier {
  constructor(options: BatchNotifier.IOptions) {
    this._options = options;
    this._seen = BatchNotifier.load();
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: INTERVAL, backoff: true, max: MAX_INTERVAL },
      standby: 'when-hidden',
      name: 'tramway-jupyter:events'
    });
  }

  get enabled(): boolean {
    return this._enabled;
  }

  /** Turned off: no poll at all. Turned on again: from the latest event (none missed shown). */
  set enabled(value: boolean) {
    if (value === this._enabled) {
      return;
    }
    this._enabled = value;
    if (value) {
      this._watching = false;
      void this._poll.start();
    } else {
      this._seen = null;
      void this._poll.stop();
    }
  }

  dispose(): void {
    this._poll.dispose();
  }

  private async _tick(): Promise<void> {
    const seen = this._seen;
    let data: IEventList = await listEvents(seen?.last ?? 0);
    if (seen === null || data.log_id !== seen.log_id) {
      if (!this._watching || seen === null) {
        // a first look at this server's log: start after its latest event (no flood)
        this._watching = true;
        this._save({ log_id: data.log_id, last: data.latest });
        return;
      }
      // the server restarted while this page watched it: its new log is all news
      data = await listEvents(0);
    }
    this._watching = true;
    const events = data.events.slice(-MAX_SHOWN);
    this._save({ log_id: data.log_id, last: data.latest });
    if (!events.length || !this._enabled) {
      return;
    }
    for (const event of events) {
      notify(event, this._options.reveal);
    }
    this._options.onEvents?.(events);
  }

  private _save(seen: ISeen): void {
    this._seen = seen;
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(seen));
    } catch {
      // storage full or disabled: this page still remembers
    }
  }

  private _options: BatchNotifier.IOptions;
  private _poll: Poll;
  private _seen: ISeen | null;
  private _enabled = false;
  private _watching = false;
}

type ISeen = BatchNotifier.ISeen;

export namespace BatchNotifier {
  /** The last event seen, in the log of one server run. */
  export interface ISeen {
    log_id: string;
    last: number;
  }

  export interface IOptions {
    /** Open the sidebar on the batch (the notification's action). */
    reveal: (batchId: string) => void;
    /** Called after events were shown (e.g. to refresh the batch list now). */
    onEvents?: (events: IBatchEvent[]) => void;
  }

  /** The last event seen by an earlier page, if any. */
  export function load(): ISeen | null {
    try {
      const raw = window.localStorage.getItem(STORAGE_KEY);
      const seen = raw ? (JSON.parse(raw) as Partial<ISeen>) : null;
      if (
        seen &&
        typeof seen.log_id === 'string' &&
        typeof seen.last === 'number'
      ) {
        return { log_id: seen.log_id, last: seen.last };
      }
    } catch {
      // unreadable: start afresh
    }
    return null;
  }
}
