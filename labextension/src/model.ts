/**
 * The sidebar's state: the batch list (refreshed by the sidebar's Poll), a tick that
 * expanded batches use to refresh their tasks, and repeated-failure tracking.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { listBatches } from './api';
import { ACTIVE_STATES, IBatch } from './types';

/** Errors are shown only after this many failed refreshes in a row. */
const FAILURES_BEFORE_ERROR = 3;

export class BatchesModel {
  get batches(): IBatch[] | null {
    return this._batches;
  }

  /** A refresh error to show, after repeated failures only. */
  get error(): string | null {
    return this._failures >= FAILURES_BEFORE_ERROR ? this._lastError : null;
  }

  /** Increases at each successful refresh: expanded batches reload their tasks. */
  get tick(): number {
    return this._tick;
  }

  get anyActive(): boolean {
    return (this._batches ?? []).some(b => ACTIVE_STATES.includes(b.state));
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted with a batch id the list must expand and scroll to. */
  get revealRequested(): ISignal<this, string> {
    return this._revealRequested;
  }

  /** Ask the list to expand the batch and show it (e.g. from a notification). Kept until a
   * list takes it, for a panel opened for the first time (not rendered yet). */
  reveal(batchId: string): void {
    this._pendingReveal = batchId;
    this._revealRequested.emit(batchId);
  }

  /** The batch to reveal that no list has taken yet, then none. */
  takeReveal(): string | null {
    const id = this._pendingReveal;
    this._pendingReveal = null;
    return id;
  }

  async refresh(): Promise<void> {
    try {
      const data = await listBatches();
      this._batches = data.batches;
      this._failures = 0;
      this._lastError = null;
      this._tick += 1;
    } catch (reason) {
      this._failures += 1;
      this._lastError =
        reason instanceof Error ? reason.message : String(reason);
      this._changed.emit();
      throw reason;
    }
    this._changed.emit();
  }

  private _batches: IBatch[] | null = null;
  private _failures = 0;
  private _lastError: string | null = null;
  private _tick = 0;
  private _changed = new Signal<this, void>(this);
  private _revealRequested = new Signal<this, string>(this);
  private _pendingReveal: string | null = null;
}
