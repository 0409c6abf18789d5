"""The database schema (SQLAlchemy 2.0 declarative). Migrations: ``store/migrations``.

Columns ending in ``_enc`` hold AES-GCM ciphertexts (see ``crypto.py``): message
text, field values, names, e-mail addresses, dates of birth, medication lists.
Everything else is an id, an enumeration, a count or a time, so dashboards and
queues can sort and filter without opening any PHI.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (same on both backends)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


ID = String(36)


class Clinic(Base):
    __tablename__ = "clinics"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    settings_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CareTeam(Base):
    __tablename__ = "care_teams"
    __table_args__ = (UniqueConstraint("clinic_id", "slug"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    notify_email: Mapped[str | None] = mapped_column(String(320))


class Account(Base):
    """A patient (or guardian) or a staff member. No social security number, ever."""

    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), index=True)
    care_team_id: Mapped[str | None] = mapped_column(ForeignKey("care_teams.id"))
    role: Mapped[str] = mapped_column(String(16))  # patient | staff
    status: Mapped[str] = mapped_column(String(16))  # invited | active | disabled
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    email_enc: Mapped[str] = mapped_column(Text)
    name_enc: Mapped[str] = mapped_column(Text)
    dob_enc: Mapped[str | None] = mapped_column(Text)
    profile_enc: Mapped[str | None] = mapped_column(Text)  # medications, staff title
    password_hash: Mapped[str | None] = mapped_column(Text)
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Dependent(Base):
    __tablename__ = "dependents"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    name_enc: Mapped[str] = mapped_column(Text)
    dob_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Provider(Base):
    """A clinician patients may name as a child's Primary Care Manager: the clinic's public
    directory (from the clinic settings file), not an account and not PHI."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("clinic_id", "slug"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    care_team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.id"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))  # as patients see it: "Dr. Emi Nakamura"
    last_name: Mapped[str] = mapped_column(String(100))  # what patients search by
    title: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)  # false once dropped from the settings file


class DependentLink(Base):
    """A guardian's proxy link to a dependent; a dependent may have two guardians.

    ``status``: ``added`` (the parent added the child, no doctor chosen yet), ``pending``
    (waiting for the PCM's team), ``accepted``, ``declined`` (the parent may ask again) or
    ``ended`` (staff ended it, e.g. custody changed; final). Only an ``accepted`` link to a
    child under the clinic's proxy age limit lets the guardian act for the child. Links made
    at in-person enrollment (``source = enrollment``) start out accepted.
    """

    __tablename__ = "dependent_links"
    __table_args__ = (Index("ix_dependent_links_team", "care_team_id", "status"),)
    dependent_id: Mapped[str] = mapped_column(ForeignKey("dependents.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True, index=True)
    id: Mapped[str] = mapped_column(ID, unique=True)  # what URLs and the audit log name
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # enrollment | family
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"))
    care_team_id: Mapped[str | None] = mapped_column(ForeignKey("care_teams.id"))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))  # a code from family.END_REASONS, never free text
    end_note_enc: Mapped[str | None] = mapped_column(Text)  # staff's own words, sealed


class AccountNotice(Base):
    """A message from the clinic to an account that is not a reply to a request
    (a family link accepted, declined or ended), shown in the inbox."""

    __tablename__ = "account_notices"
    __table_args__ = (Index("ix_account_notices_account", "account_id", "created_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(32))
    body_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Invitation(Base):
    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Session(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed logins per account and per address (keys are keyed hashes, not addresses)."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_account", "account_id", "created_at"),
                      Index("ix_conversations_clinic_created", "clinic_id", "created_at"))
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    dependent_id: Mapped[str | None] = mapped_column(ForeignKey("dependents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(32))
    triage: Mapped[str] = mapped_column(String(16))
    state_enc: Mapped[str] = mapped_column(Text)
    turns: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # in clear for the quality figures (0004): the field the bot is waiting for (a field name,
    # "confirm" or none) and the care team the patient belonged to when the conversation started
    awaiting: Mapped[str | None] = mapped_column(String(32))
    care_team_id: Mapped[str | None] = mapped_column(ForeignKey("care_teams.id"))


class Turn(Base):
    """One exchange: the patient's text (absent for the greeting) and the stored result."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "client_turn_id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    client_turn_id: Mapped[str | None] = mapped_column(String(64))
    text_enc: Mapped[str | None] = mapped_column(Text)
    result_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CareRequest(Base):
    """A filed request in a care team's queue, sorted by due time."""

    __tablename__ = "care_requests"
    __table_args__ = (Index("ix_care_requests_queue", "care_team_id", "status", "due_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    care_team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.id"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    dependent_id: Mapped[str | None] = mapped_column(ForeignKey("dependents.id"), index=True)
    intent: Mapped[str] = mapped_column(String(32))
    triage: Mapped[str] = mapped_column(String(16))  # the screening outcome at filing
    content_enc: Mapped[str] = mapped_column(Text)  # patient label, fields, parsed, own words
    status: Mapped[str] = mapped_column(String(16))  # open | claimed | closed
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the care team's work on it (migration 0002). No foreign key on assignee_id: SQLite cannot add
    # one to an existing table without rebuilding it, and other tables reference this one.
    assignee_id: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # response time vs due_at
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation: Mapped[str | None] = mapped_column(String(16))  # None | nearly_due | overdue (last e-mailed)


class RequestReply(Base):
    """A care-team reply to a filed request, shown in the patient's inbox."""

    __tablename__ = "request_replies"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("care_requests.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    body_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffMember(Base):
    """A staff account's clinic role (pcm, nurse, med_tech, front_desk, admin); Account.role is 'staff'."""

    __tablename__ = "staff_members"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamMember(Base):
    """The designated members of a care team: only they (and cover) work its inbox."""

    __tablename__ = "team_members"
    care_team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamCoverage(Base):
    """Cross-coverage: a staff member works another team's inbox for a period."""

    __tablename__ = "team_coverage"
    __table_args__ = (Index("ix_team_coverage_account", "account_id", "ends_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    care_team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    granted_by: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffSession(Base):
    """Staff sessions: their own cookie and a shorter idle timeout than patients'."""

    __tablename__ = "staff_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RequestEvent(Base):
    """Every staff action on a request (and the escalations), without PHI: who, what, when.

    ``action``: viewed, transcript_viewed, claimed, released, replied, rerouted, relabeled, done,
    escalated. ``asked_fields`` (JSON list of SPEC §2 field names) is what a reply had to ask the
    patient again for. ``client_action_id`` makes a repeated submit act once.
    """

    __tablename__ = "request_events"
    __table_args__ = (
        Index("ix_request_events_request", "request_id", "seq"),
        Index("ix_request_events_clinic", "clinic_id", "action", "at"),
        Index("uq_request_events_client_action", "request_id", "client_action_id", unique=True),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("care_requests.id"))
    # 1, 2, … per request: orders the events of one instant (actions hold the request's row lock; two
    # concurrent *views* may share a number, which orders nothing that matters)
    seq: Mapped[int] = mapped_column(Integer)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    staff_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))  # None: the system (escalation)
    action: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_team_id: Mapped[str | None] = mapped_column(String(36))
    to_team_id: Mapped[str | None] = mapped_column(String(36))
    from_intent: Mapped[str | None] = mapped_column(String(32))
    to_intent: Mapped[str | None] = mapped_column(String(32))
    asked_fields: Mapped[str | None] = mapped_column(Text)  # JSON list of field names
    reply_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON without PHI (e.g. canned reply name, level)
    client_action_id: Mapped[str | None] = mapped_column(String(64))


class PatientMessage(Base):
    """A provider-initiated message or appointment reminder in a patient's inbox."""

    __tablename__ = "patient_messages"
    __table_args__ = (
        Index("ix_patient_messages_account", "account_id", "deliver_at"),
        Index("uq_patient_messages_client_action", "author_id", "client_action_id", unique=True),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    dependent_id: Mapped[str | None] = mapped_column(ForeignKey("dependents.id"))
    author_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    care_team_id: Mapped[str | None] = mapped_column(ForeignKey("care_teams.id"))
    kind: Mapped[str] = mapped_column(String(16))  # message | reminder
    body_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deliver_at: Mapped[datetime] = mapped_column(UTCDateTime())  # reminders wait until then
    client_action_id: Mapped[str | None] = mapped_column(String(64))


class TriageCounter(Base):
    """Urgent redirects per clinic, day and level: counts only, never the words."""

    __tablename__ = "triage_counters"
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class OutboxMessage(Base):
    """An e-mail to send, written in the same transaction as the event behind it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # template name
    recipient_enc: Mapped[str] = mapped_column(Text)
    payload_enc: Mapped[str] = mapped_column(Text)  # template variables (e.g. a link)
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))  # an error class, never content
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Append-only, hash-chained: hash = sha256(prev_hash | canonical record)."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)  # JSON without PHI
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last sequence number and hash; its row lock serialises appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class LabeledRun(Base):
    """A labeled test run (SPEC §5 evaluate or replay) an admin uploaded, with its lexicon version.

    Counts and rates are in clear (``summary_json``); the per-line results quote the
    labeled lines, which a clinic may have taken from real messages, so they are sealed.
    """

    __tablename__ = "test_runs"
    __table_args__ = (Index("ix_test_runs_clinic", "clinic_id", "created_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    kind: Mapped[str] = mapped_column(String(16))  # evaluate | replay
    file_name: Mapped[str] = mapped_column(String(120))  # sanitised base name: which set was run
    lexicon: Mapped[str] = mapped_column(String(16))  # live | candidate (the clinic's additions)
    lexicon_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # done | failed
    lines: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    summary_json: Mapped[str] = mapped_column(Text)  # counts and rates, no line text
    results_enc: Mapped[str | None] = mapped_column(Text)  # per-line results (sealed)
    error: Mapped[str | None] = mapped_column(String(200))  # e.g. "line 7: not valid JSON"
    created_by: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Every sealed column, for key rotation: (model, column name); see aad() below.
ENCRYPTED_COLUMNS: tuple[tuple[type[Base], str], ...] = (
    (Account, "email_enc"),
    (Account, "name_enc"),
    (Account, "dob_enc"),
    (Account, "profile_enc"),
    (Dependent, "name_enc"),
    (Dependent, "dob_enc"),
    (DependentLink, "end_note_enc"),
    (AccountNotice, "body_enc"),
    (Conversation, "state_enc"),
    (Turn, "text_enc"),
    (Turn, "result_enc"),
    (CareRequest, "content_enc"),
    (RequestReply, "body_enc"),
    (PatientMessage, "body_enc"),
    (OutboxMessage, "recipient_enc"),
    (OutboxMessage, "payload_enc"),
    (LabeledRun, "results_enc"),
)


def aad(model: type[Base], column: str, row_id: str) -> str:
    """Associated data binding a ciphertext to its table, column and row."""
    return f"{model.__tablename__}.{column}|{row_id}"
