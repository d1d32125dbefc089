/** The signed-in session, for views that show actions only to keys that may act. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { SessionView } from '../../../src/http/console/shapes.js';

export const SessionContext = createContext<SessionView | null>(null);

export function useCanAct(): boolean {
  return useContext(SessionContext)?.access === 'manage';
}
