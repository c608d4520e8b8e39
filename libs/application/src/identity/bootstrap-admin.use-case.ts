import { Injectable } from '@nestjs/common';
import { UserRepository } from '#persistence';
import { Credentials } from './credentials.port.js';

/**
 * Creates the bootstrap admin when no user has that email. Never changes an existing account (a
 * password changed later stays changed); two starts at once create one account.
 */
@Injectable()
export class BootstrapAdminUseCase {
  constructor(
    private readonly users: UserRepository,
    private readonly credentials: Credentials,
  ) {}

  async execute(input: { email: string; password: string }): Promise<{ created: boolean; userId: string }> {
    const email = input.email.toLowerCase();
    const existing = await this.users.findByEmail(email);
    if (existing) return { created: false, userId: existing.id };
    const insertedId = await this.users.insertIfEmailAbsent({
      email,
      name: 'gpupool administrator',
      passwordHash: await this.credentials.hashPassword(input.password),
      roles: ['admin'],
    });
    if (insertedId) return { created: true, userId: insertedId };
    const raced = await this.users.findByEmail(email);
    if (!raced) throw new Error(`the account ${email} was neither inserted nor found`);
    return { created: false, userId: raced.id };
  }
}
