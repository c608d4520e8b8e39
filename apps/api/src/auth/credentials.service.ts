import { Injectable, Logger } from '@nestjs/common';
import { hash, verify } from '@node-rs/argon2';
import { createHash, randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { InjectConfig, type GpupoolConfig } from '../common/config.provider.js';

const API_TOKEN_PREFIX = 'gpp_';

export interface AccessTokenClaims {
  sub: string;
}

/** Passwords (Argon2id), access tokens (JWT HS256) and API tokens (random, stored as SHA-256). */
@Injectable()
export class CredentialsService {
  private readonly jwtKey: Uint8Array;

  constructor(@InjectConfig() private readonly config: GpupoolConfig) {
    // libs/config refuses a missing secret in production. Elsewhere (a developer running the API by
    // hand) a random one keeps tokens unforgeable; they die with this process and other replicas
    // do not accept them, so say so. `npm start` and the tests always pass a secret.
    if (config.JWT_SECRET === undefined) {
      this.jwtKey = randomBytes(32);
      new Logger(CredentialsService.name).warn(
        'JWT_SECRET is not set: access tokens are signed with a random secret of this process only ' +
          '(they stop working when it restarts); set JWT_SECRET to keep them',
      );
    } else {
      this.jwtKey = new TextEncoder().encode(config.JWT_SECRET);
    }
  }

  hashPassword(password: string): Promise<string> {
    return hash(password);
  }

  async verifyPassword(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  }

  async issueAccessToken(userId: string): Promise<{ accessToken: string; expiresIn: number }> {
    const accessToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuer('gpupool')
      .setIssuedAt()
      .setExpirationTime(`${this.config.JWT_TTL_SECONDS}s`)
      .sign(this.jwtKey);
    return { accessToken, expiresIn: this.config.JWT_TTL_SECONDS };
  }

  /** The user id of a valid access token, or null. */
  async verifyAccessToken(token: string): Promise<string | null> {
    try {
      const { payload } = await jwtVerify(token, this.jwtKey, { issuer: 'gpupool', algorithms: ['HS256'] });
      return typeof payload.sub === 'string' ? payload.sub : null;
    } catch {
      return null;
    }
  }

  isApiToken(token: string): boolean {
    return token.startsWith(API_TOKEN_PREFIX);
  }

  /** A new API token: 256 random bits. Shown once; only its hash is stored. */
  newApiToken(): { token: string; tokenHash: string; tokenPrefix: string } {
    const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    return { token, tokenHash: this.hashApiToken(token), tokenPrefix: token.slice(0, 10) };
  }

  /** High-entropy secrets need no slow hash: SHA-256 makes lookups by hash possible. */
  hashApiToken(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }
}
