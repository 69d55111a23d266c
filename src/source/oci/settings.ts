/**
 * The process-wide registry setting the CLI takes once for every command (`--tls-verify=false`,
 * spelt as podman spells it): a reference reaches the registry client through openSource, far
 * from any command's options.
 */
let tlsVerify = true;

/** Sets the default for registry clients made without an explicit `tlsVerify`. */
export function setTlsVerifyDefault(v: boolean): void {
  tlsVerify = v;
}

export function tlsVerifyDefault(): boolean {
  return tlsVerify;
}
