import { Injectable } from '@nestjs/common';
import { LoginUseCase, SessionQueries } from '#application';
import type { Principal } from '../auth/principal.js';

/** Sign-in and "who am I", over the identity use cases (libs/application/src/identity). */
@Injectable()
export class SessionService {
  constructor(
    private readonly loginUseCase: LoginUseCase,
    private readonly queries: SessionQueries,
  ) {}

  login(
    email: string,
    password: string,
  ): Promise<{ accessToken: string; tokenType: 'Bearer'; expiresIn: number }> {
    return this.loginUseCase.execute(email, password);
  }

  me(principal: Principal): Promise<Record<string, unknown>> {
    return this.queries.me(principal);
  }
}
