/**
 * The secrets identity use cases handle: Argon2id passwords, access tokens and API tokens. The API's
 * CredentialsService is what both the HTTP app and the CLI bind; unit tests bind a fake.
 */
export abstract class Credentials {
  abstract hashPassword(password: string): Promise<string>;
  /** False on a wrong password and on an unreadable hash alike. */
  abstract verifyPassword(passwordHash: string, password: string): Promise<boolean>;
  abstract issueAccessToken(userId: string): Promise<{ accessToken: string; expiresIn: number }>;
  /** A new API token: shown once; only its hash is stored. */
  abstract newApiToken(): { token: string; tokenHash: string; tokenPrefix: string };
}
