/**
 * The environment every benchmarked child process runs in: PATH only, the same for pagestack and
 * for its baseline (crit, cat, CRIU). This matters for Node: a NODE_EXTRA_CA_CERTS in the
 * environment, as some sandboxes set for their proxy, makes every Node process parse that CA
 * bundle at start-up (~50 ms on the benchmark machine) before any of pagestack's code runs.
 */
export const CLEAN_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/bin' };
