import { hash } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { grantTransaction, holdTransaction, settleHoldTransaction } from '../../libs/domain/src/index.js';
import {
  AllocationEntity,
  AllocationRequestEntity,
  AllocationRequestLineEntity,
  OrganizationEntity,
  postLedgerTransaction,
  ProjectEntity,
  ProjectMemberEntity,
  UserEntity,
} from '../../libs/persistence/src/index.js';

/**
 * Directory rows and allocations written straight through the entities and the ledger repository,
 * for tests of features that read them (programs, allocations) without depending on the routes that
 * create them.
 */

export interface UserFixture {
  id: string;
  email: string;
  password: string;
}

export async function makeOrganization(
  dataSource: DataSource,
  overrides: Partial<OrganizationEntity> = {},
): Promise<string> {
  const organization = await dataSource.getRepository(OrganizationEntity).save({
    name: `Org ${randomUUID().slice(0, 8)}`,
    type: 'university',
    region: 'daejeon',
    capitalArea: false,
    taxIdKind: null,
    taxId: null,
    ...overrides,
  });
  return organization.id;
}

export async function makeUser(
  dataSource: DataSource,
  options: {
    roles?: string[];
    organizationId?: string | null;
    agencyCode?: string | null;
    active?: boolean;
  } = {},
): Promise<UserFixture> {
  const email = `user-${randomUUID().slice(0, 8)}@test.gpupool.kr`;
  const password = `pw-${randomUUID()}`;
  const user = await dataSource.getRepository(UserEntity).save({
    email,
    name: 'Test user',
    passwordHash: await hash(password),
    organizationId: options.organizationId ?? null,
    roles: options.roles ?? [],
    agencyCode: options.agencyCode ?? null,
    active: options.active ?? true,
  });
  return { id: user.id, email, password };
}

/** A project with its PI and members (the PI is a member with role `pi`). */
export async function makeProject(
  dataSource: DataSource,
  options: { organizationId: string; piUserId: string; memberIds?: string[] },
): Promise<string> {
  const project = await dataSource.getRepository(ProjectEntity).save({
    title: `Project ${randomUUID().slice(0, 8)}`,
    organizationId: options.organizationId,
    piUserId: options.piUserId,
  });
  await dataSource
    .getRepository(ProjectMemberEntity)
    .insert([
      { projectId: project.id, userId: options.piUserId, role: 'pi' },
      ...(options.memberIds ?? []).map((userId) => ({ projectId: project.id, userId, role: 'member' })),
    ]);
  return project.id;
}

export interface AllocationFixture {
  allocationId: string;
  requestId: string;
  requestLineId: string;
}

/**
 * An approved request granted the way the scheduler grants it: allocation row plus a `grant` posting
 * (program budget → allocation). Optional workloads then hold and settle against it, so balances
 * other than `granted` are non-trivial.
 */
export async function makeGrantedAllocation(
  dataSource: DataSource,
  options: {
    projectId: string;
    programId: string;
    createdBy: string;
    gpuModel: string;
    grantedGpuSeconds: bigint;
    maxConcurrentGpus?: number;
    workloads?: { heldGpuSeconds: bigint; usedGpuSeconds?: bigint }[];
  },
): Promise<AllocationFixture> {
  const startsAt = new Date('2026-03-01T00:00:00Z');
  const endsAt = new Date('2026-09-01T00:00:00Z');
  return dataSource.transaction(async (manager) => {
    const request = await manager.getRepository(AllocationRequestEntity).save({
      projectId: options.projectId,
      programId: options.programId,
      status: 'approved',
      startsAt,
      endsAt,
      justification: 'fixture',
      createdBy: options.createdBy,
      submittedAt: startsAt,
      decidedAt: startsAt,
      decidedBy: null,
      decisionNote: null,
    });
    const line = await manager.getRepository(AllocationRequestLineEntity).save({
      requestId: request.id,
      lineNo: 1,
      gpuModel: options.gpuModel,
      kind: 'budget',
      gpuSeconds: options.grantedGpuSeconds,
      maxConcurrentGpus: options.maxConcurrentGpus ?? 8,
      grantedGpuSeconds: options.grantedGpuSeconds,
      grantedMaxConcurrentGpus: options.maxConcurrentGpus ?? 8,
    });
    const allocation = await manager.getRepository(AllocationEntity).save({
      requestId: request.id,
      requestLineId: line.id,
      projectId: options.projectId,
      programId: options.programId,
      gpuModel: options.gpuModel,
      kind: 'budget',
      maxConcurrentGpus: options.maxConcurrentGpus ?? 8,
      startsAt,
      endsAt,
      status: 'active',
    });
    await postLedgerTransaction(
      manager,
      grantTransaction({
        programId: options.programId,
        gpuModel: options.gpuModel,
        allocationId: allocation.id,
        requestLineId: line.id,
        gpuSeconds: options.grantedGpuSeconds,
      }),
    );
    for (const workload of options.workloads ?? []) {
      const workloadId = randomUUID();
      await postLedgerTransaction(
        manager,
        holdTransaction({ allocationId: allocation.id, workloadId, gpuSeconds: workload.heldGpuSeconds }),
      );
      if (workload.usedGpuSeconds !== undefined) {
        await postLedgerTransaction(
          manager,
          settleHoldTransaction({
            allocationId: allocation.id,
            workloadId,
            heldGpuSeconds: workload.heldGpuSeconds,
            usedGpuSeconds: workload.usedGpuSeconds,
          }),
        );
      }
    }
    return { allocationId: allocation.id, requestId: request.id, requestLineId: line.id };
  });
}
