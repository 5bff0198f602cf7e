// Simulators read the time only through a Clock, so rate-limit and outage tests can move time
// forward instead of waiting for it.
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
