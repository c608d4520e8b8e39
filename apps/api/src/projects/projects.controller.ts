import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import {
  AddProjectMemberUseCase,
  CreateProjectUseCase,
  ProjectQueries,
  RemoveProjectMemberUseCase,
} from '#application';
import { CurrentPrincipal, RequestId } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  addMemberRequest,
  memberParams,
  type AddMemberRequest,
  type MemberParams,
} from './dto/add-member.request.js';
import { createProjectRequest, type CreateProjectRequest } from './dto/create-project.request.js';
import { listProjectsQuery, type ListProjectsQuery } from './dto/list-projects.request.js';
import { projectMemberResponse, projectPageResponse, projectResponse } from './dto/project.response.js';

@ApiTags('projects')
@ApiBearerAuth()
@Controller('v1/projects')
export class ProjectsController {
  constructor(
    private readonly createProject: CreateProjectUseCase,
    private readonly addProjectMember: AddProjectMemberUseCase,
    private readonly removeProjectMember: RemoveProjectMemberUseCase,
    private readonly projects: ProjectQueries,
  ) {}

  @Post()
  @ApiCreatedResponse({ standardSchema: projectResponse })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createProjectRequest }) body: CreateProjectRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.createProject.execute(principal, body, requestId);
  }

  @Get()
  @ApiOkResponse({
    standardSchema: projectPageResponse,
    description: 'Admins see every project, others the ones they belong to.',
  })
  list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listProjectsQuery }) query: ListProjectsQuery,
  ) {
    return this.projects.list(principal, query);
  }

  @Get(':id')
  @ApiOkResponse({ standardSchema: projectResponse })
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return this.projects.get(principal, params.id);
  }

  @Post(':id/members')
  @ApiCreatedResponse({ standardSchema: projectMemberResponse })
  addMember(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: addMemberRequest }) body: AddMemberRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.addProjectMember.execute(principal, params.id, body, requestId);
  }

  @Delete(':id/members/:userId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Removed. The PI cannot be removed (422).' })
  async removeMember(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: memberParams }) params: MemberParams,
    @RequestId() requestId: string | null,
  ): Promise<void> {
    await this.removeProjectMember.execute(principal, params.id, params.userId, requestId);
  }
}
