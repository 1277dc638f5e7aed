/** Build information as /api/v1/status and the status page show it, in the official's field names. */
export interface BuildInformation {
  readonly branch: string;
  readonly buildDate: string;
  readonly buildUser: string;
  readonly goVersion: string;
  readonly revision: string;
  readonly version: string;
}
