import React, {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState
} from 'react';

/**
 * A windowed list: of `count` rows, only those in view (plus `overscan` on each side) are in
 * the DOM. Rows may have different heights (an expanded task, an error line): each rendered
 * row is measured and unmeasured rows count as `estimatedHeight`, so the scrollbar is right
 * for 100,000 rows while at most a few dozen exist.
 *
 * Rendered as <div viewport (scrolls)><div sizer (full height)><ul> rows </ul></div></div>;
 * `renderRow(i)` returns an <li> (with its key).
 */
export function VirtualList(props: {
  count: number;
  estimatedHeight: number;
  renderRow: (index: number) => React.ReactElement;
  /** Called with [start, end) of the rendered rows when it changes. */
  onRangeChange?: (start: number, end: number) => void;
  /** A change scrolls back to the top and forgets the measured heights (e.g. a new filter). */
  resetKey?: string;
  overscan?: number;
  className?: string;
  listClassName?: string;
}): JSX.Element {
  const { count, estimatedHeight: est } = props;
  const overscan = props.overscan ?? 10;
  const viewport = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const heights = useRef(new Map<number, number>());
  const [measured, setMeasured] = useState(0); // bumps when a row's height changes
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(400);

  useEffect(() => {
    heights.current = new Map();
    setMeasured(m => m + 1);
    if (viewport.current) {
      viewport.current.scrollTop = 0;
    }
    setScrollTop(0);
  }, [props.resetKey]);

  // prefix[i] = top of row i; O(count) only when a height changes, not at every scroll
  const prefix = useMemo(() => {
    const p = new Float64Array(count + 1);
    const h = heights.current;
    for (let i = 0; i < count; i++) {
      p[i + 1] = p[i] + (h.get(i) ?? est);
    }
    return p;
  }, [count, est, measured]);

  // first row whose bottom is below y
  const rowAt = (y: number): number => {
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (prefix[mid + 1] <= y) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  };
  const first = rowAt(scrollTop);
  const last = rowAt(scrollTop + viewHeight);
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, last + 1 + overscan);

  const onRangeChange = props.onRangeChange;
  useEffect(() => {
    onRangeChange?.(start, end);
  }, [start, end, onRangeChange]);

  // measure what was rendered; re-render only if a height changed
  useLayoutEffect(() => {
    const ul = list.current;
    if (!ul) {
      return;
    }
    let changed = false;
    const rows = ul.children;
    for (let k = 0; k < rows.length; k++) {
      const h = (rows[k] as HTMLElement).offsetHeight;
      const i = start + k;
      if (h > 0 && heights.current.get(i) !== h) {
        heights.current.set(i, h);
        changed = true;
      }
    }
    if (changed) {
      setMeasured(m => m + 1);
    }
  });

  // follow the viewport's size (sidebar resized, batch expanded)
  useEffect(() => {
    const el = viewport.current;
    if (!el) {
      return;
    }
    const update = () => setViewHeight(el.clientHeight || 400);
    update();
    const observer = new ResizeObserver(update);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const onScroll = useCallback(
    (e: React.UIEvent<HTMLDivElement>) =>
      setScrollTop(e.currentTarget.scrollTop),
    []
  );

  const rows: React.ReactElement[] = [];
  for (let i = start; i < end; i++) {
    rows.push(props.renderRow(i));
  }
  return (
    <div
      ref={viewport}
      className={props.className}
      onScroll={onScroll}
      data-count={count}
    >
      <div style={{ position: 'relative', height: prefix[count] }}>
        <ul
          ref={list}
          className={props.listClassName}
          style={{
            position: 'absolute',
            top: prefix[start],
            left: 0,
            right: 0
          }}
        >
          {rows}
        </ul>
      </div>
    </div>
  );
}
