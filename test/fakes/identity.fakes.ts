import { randomUUID } from 'node:crypto';
import { Credentials } from '#application';
import {
  ApiTokenRepository,
  type ApiTokenEntity,
  type ApiTokenListFilter,
  type NewApiToken,
  type Page,
  type Tx,
} from '#persistence';
import type { DirectoryStore } from './directory.fakes.js';

/** API tokens in memory, their creators read from the directory store. */
export class FakeApiTokenRepository extends ApiTokenRepository {
  readonly tokens = new Map<string, ApiTokenEntity>();
  readonly uses: { tokenId: string; usedAt: Date }[] = [];
  mintLocks = 0;

  constructor(private readonly store: DirectoryStore) {
    super();
  }

  add(values: Partial<ApiTokenEntity> & { createdBy: string }): ApiTokenEntity {
    const row: ApiTokenEntity = {
      id: randomUUID(),
      name: 'ci',
      tokenHash: randomUUID(),
      tokenPrefix: 'gpp_abcdef',
      scopes: ['read'],
      createdAt: this.store.now(),
      revokedAt: null,
      lastUsedAt: null,
      ...values,
    };
    this.tokens.set(row.id, row);
    return row;
  }

  override insert(_tx: Tx, token: NewApiToken): Promise<ApiTokenEntity> {
    return Promise.resolve({ ...this.add(token) });
  }

  override findForUpdate(_tx: Tx, tokenId: string): Promise<ApiTokenEntity | null> {
    const row = this.tokens.get(tokenId);
    return Promise.resolve(row ? { ...row } : null);
  }

  override markRevoked(_tx: Tx, tokenId: string, revokedAt: Date): Promise<void> {
    const row = this.tokens.get(tokenId);
    if (row) row.revokedAt = revokedAt;
    return Promise.resolve();
  }

  override page(filter: ApiTokenListFilter): Promise<Page<ApiTokenEntity>> {
    const items = [...this.tokens.values()]
      .filter((row) => filter.createdBy === undefined || row.createdBy === filter.createdBy)
      .filter((row) => filter.includeRevoked || row.revokedAt === null);
    return Promise.resolve({ items, nextCursor: null });
  }

  override findLiveByHash(tokenHash: string): Promise<ApiTokenEntity | null> {
    const row = [...this.tokens.values()].find(
      (token) => token.tokenHash === tokenHash && token.revokedAt === null,
    );
    if (!row) return Promise.resolve(null);
    const creator = this.store.users.get(row.createdBy);
    return Promise.resolve({ ...row, ...(creator ? { creator } : {}) });
  }

  override recordUse(tokenId: string, usedAt: Date): Promise<void> {
    this.uses.push({ tokenId, usedAt });
    const row = this.tokens.get(tokenId);
    if (row) row.lastUsedAt = usedAt;
    return Promise.resolve();
  }

  override liveNamed(_tx: Tx, name: string): Promise<ApiTokenEntity[]> {
    return Promise.resolve(
      [...this.tokens.values()].filter((row) => row.name === name && row.revokedAt === null),
    );
  }

  override lockSimulatorTokenMint(): Promise<void> {
    this.mintLocks += 1;
    return Promise.resolve();
  }
}

/** Passwords "hashed" as `hash:<password>`, tokens numbered: readable in assertions. */
export class FakeCredentials extends Credentials {
  readonly hashed: string[] = [];
  private minted = 0;

  override hashPassword(password: string): Promise<string> {
    this.hashed.push(password);
    return Promise.resolve(`hash:${password}`);
  }

  override verifyPassword(passwordHash: string, password: string): Promise<boolean> {
    return Promise.resolve(passwordHash === `hash:${password}`);
  }

  override issueAccessToken(userId: string): Promise<{ accessToken: string; expiresIn: number }> {
    return Promise.resolve({ accessToken: `jwt-for-${userId}`, expiresIn: 3600 });
  }

  override newApiToken(): { token: string; tokenHash: string; tokenPrefix: string } {
    this.minted += 1;
    const token = `gpp_secret${this.minted}`;
    return { token, tokenHash: `sha:${token}`, tokenPrefix: token.slice(0, 10) };
  }
}
