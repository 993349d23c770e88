"""Listening projects, in YAML (validated; errors name file, line and field).

    projects:
      - name: skyway
        title: Skyway Air
        brand: Skyway Air
        competitors: [Northwind Airlines, Bluejay Air]
        keywords: ["#skywayair", "skyway air"]
        languages: [en, sl, sv]
        teams: [pr, product, care, leadership]

A project is what a team listens to: its brand, the competitors it is compared with (share of
voice), the languages it reads, and the teams whose views show it. The API's pickers, share of
voice and reports all read it. Check a file with `earful projects check FILE`; point
EARFUL_PROJECTS_FILE at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from earful.configfile import SemanticChecks

Team = Literal["pr", "product", "care", "leadership", "social"]


class Project(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    title: str = ""
    brand: str = Field(min_length=1)
    competitors: tuple[str, ...] = ()
    #: Words and hashtags that make a post about the brand (documentation for the collectors
    #: that publish mentions; the brand field of each mention is what Earful counts).
    keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    teams: tuple[Team, ...] = ("pr", "product", "care", "leadership")

    @property
    def brands(self) -> tuple[str, ...]:
        """The brand first, then its competitors: the share-of-voice set."""
        return (self.brand, *self.competitors)

    @property
    def label(self) -> str:
        return self.title or self.brand


class Projects(BaseModel, SemanticChecks):
    model_config = ConfigDict(extra="forbid", frozen=True)

    projects: tuple[Project, ...] = Field(min_length=1)

    def semantic_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        names = [p.name for p in self.projects]
        for i, project in enumerate(self.projects):
            if names.index(project.name) != i:
                problems.append(
                    (("projects", i, "name"), f"project '{project.name}' is used twice")
                )
            if project.brand in project.competitors:
                problems.append(
                    (("projects", i, "competitors"), "a brand cannot be its own competitor")
                )
            if len(set(project.competitors)) != len(project.competitors):
                problems.append((("projects", i, "competitors"), "a competitor is listed twice"))
        return problems

    def get(self, name: str | None) -> Project:
        """The named project (the first when no name is given); KeyError if unknown."""
        if not name:
            return self.projects[0]
        for project in self.projects:
            if project.name == name:
                return project
        raise KeyError(name)


DEFAULT_PROJECTS_PATH = Path(__file__).resolve().parent / "defaults" / "projects.yaml"


def load_projects(path: str | Path | None) -> Projects:
    return Projects.load(path or DEFAULT_PROJECTS_PATH)
