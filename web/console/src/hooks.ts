/**
 * Loading data for a view: useLoad runs a fetch when its inputs change and on refresh();
 * with `everyMs` it also polls while the tab is visible (the queue view refreshes itself),
 * keeping the last answer on screen while the next one is on its way.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  /** HTTP status of the last failure, 0 for a network error. */
  status: number;
  loading: boolean;
  refresh: () => void;
}

export function useLoad<T>(load: () => Promise<T>, inputs: unknown[], everyMs?: number): Loaded<T> {
  const [state, setState] = useState<Omit<Loaded<T>, 'refresh'>>({
    data: null,
    error: null,
    status: 0,
    loading: true,
  });
  const generation = useRef(0);
  // Rebuilt when the caller's inputs change: that is when the view loads again.
  const refresh = useCallback(() => {
    const mine = ++generation.current;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => {
        if (mine === generation.current) setState({ data, error: null, status: 200, loading: false });
      },
      (error: Error & { status?: number }) => {
        if (mine === generation.current)
          setState((previous) => ({
            data: previous.data,
            error: error.message,
            status: error.status ?? 0,
            loading: false,
          }));
      },
    );
  }, inputs);
  useEffect(() => {
    refresh();
    if (!everyMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') refresh();
    }, everyMs);
    return () => clearInterval(timer);
  }, [refresh, everyMs]);
  return { ...state, refresh };
}
