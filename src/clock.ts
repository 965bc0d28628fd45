// Time as a dependency: anything that checks expiry takes a Clock, so tests can freeze it.
export type Clock = () => number; // epoch milliseconds

export const systemClock: Clock = () => Date.now();
