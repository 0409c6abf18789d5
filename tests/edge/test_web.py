"""The patient API and WebSocket through aiohttp's test client, on a real database with the real core."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot import accounts
from micare_bot.app import create_app, gateway_key, keyring_key
from micare_bot.config import Settings
from micare_bot.store import audit, db
from micare_bot.store.clinics import clinic_by_slug
from micare_bot.store.schema import CareRequest, OutboxMessage, TriageCounter, Turn

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # Monday 9:00 in Chicago
PASSWORD = "correct horse battery staple"


class Clock:
    """A settable clock for the app."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Patient:
    email: str
    csrf: str = ""

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
async def client(engine: AsyncEngine, settings: Settings, clock: Clock, aiohttp_client: Any) -> TestClient:
    """The real app (outbox sender off) on a migrated database."""
    return await aiohttp_client(create_app(settings, clock=clock, send_mail=False))


async def enroll(client: TestClient, name: str, email: str, meds: list[str],
                 deps: list[tuple[str, date]] | None = None) -> accounts.Enrollment:
    app = client.server.app
    async with db.read(app[gateway_key].engine) as conn:
        clinic = await clinic_by_slug(conn, "demo")
    assert clinic is not None
    return await accounts.enroll(app[gateway_key].engine, app[keyring_key], app[gateway_key].settings, clinic,
                                 name=name, email=email, now=T0, dob=date(1989, 2, 3), medications=meds,
                                 dependents=deps or [])


async def sign_in(client: TestClient, email: str) -> Patient:
    resp = await client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert "HttpOnly" in resp.headers["Set-Cookie"] and "SameSite=Strict" in resp.headers["Set-Cookie"]
    return Patient(email, body["csrf_token"])


async def new_patient(client: TestClient, name: str = "Jordan Avery", email: str = "jordan@example.com",
                      meds: tuple[str, ...] = ("Losartan 50 mg tablet",), deps: list[tuple[str, date]] | None = None
                      ) -> Patient:
    inv = await enroll(client, name, email, list(meds), deps)
    resp = await client.post(f"/api/v1/invitations/{inv.token}/accept",
                             json={"password": PASSWORD, "accept_terms": True})
    assert resp.status == 200, await resp.text()
    client.session.cookie_jar.clear()
    return await sign_in(client, email)


REFILL = {"pharmacy": "mail order", "confirm": "yes", "patient": "me"}


async def start(client: TestClient, p: Patient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = await client.post("/api/v1/conversations", json=body or {}, headers=p.headers())
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def say(client: TestClient, p: Patient, cid: str, text: str, turn_id: str | None = None) -> Any:
    return await client.post(f"/api/v1/conversations/{cid}/turns", headers=p.headers(),
                             json={"text": text, "client_turn_id": turn_id or str(uuid.uuid4())})


def answer_for(result: dict[str, Any], answers: dict[str, str]) -> str:
    awaiting = result["awaiting"]
    return answers.get(awaiting or "", "yes" if awaiting == "confirm" else "I don't know")


async def converse_http(client: TestClient, p: Patient, opening: str, answers: dict[str, str]) -> list[dict[str, Any]]:
    first = await start(client, p)
    cid = first["conversation_id"]
    results = []
    text = opening
    for _ in range(20):
        resp = await say(client, p, cid, text)
        assert resp.status == 200, await resp.text()
        result = await resp.json()
        results.append(result)
        if result["status"] in {"filed", "redirected", "cancelled"}:
            break
        text = answer_for(result, answers)
    return results


async def count(engine: AsyncEngine, model: Any) -> int:
    async with db.read(engine) as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


class TestConversationOverHttp:
    async def test_invitation_to_filed_request(self, client: TestClient, engine: AsyncEngine) -> None:
        """Accept an invitation, sign in, chat to a filed refill; the queue, inbox, outbox and audit agree."""
        p = await new_patient(client)
        results = await converse_http(client, p, "I need my blood pressure pill refilled", REFILL)
        last = results[-1]
        assert last["status"] == "filed" and last["intent"] == "refill"
        assert last["request_id"] and last["request_id"].startswith("R-")
        assert "losartan" in last["fields"]["medication"].lower()
        closing = last["messages"][-1]["text"]
        assert last["request_id"] in closing and "Tuesday, November 17 at 4:30 PM CST" in closing
        async with db.read(engine) as conn:
            req = (await conn.execute(select(CareRequest))).one()
        assert req.due_at == datetime(2026, 11, 17, 22, 30, tzinfo=timezone.utc)
        assert req.triage == "routine" and req.status == "open"
        assert await count(engine, OutboxMessage) == 2  # the invitation and the care-team notice
        inbox = await (await client.get("/api/v1/messages")).json()
        assert [m["request_id"] for m in inbox["messages"]] == [last["request_id"]]
        assert (await audit.verify(engine)).ok

    async def test_transcript_has_both_sides(self, client: TestClient) -> None:
        """GET a conversation: the greeting, the patient's words and the bot's replies, with the state."""
        p = await new_patient(client)
        results = await converse_http(client, p, "I need my blood pressure pill refilled", REFILL)
        cid = results[-1]["conversation_id"]
        body = await (await client.get(f"/api/v1/conversations/{cid}")).json()
        assert body["status"] == "filed" and body["request_id"] == results[-1]["request_id"]
        sides = [e["from"] for e in body["transcript"]]
        assert sides[0] == "bot" and "patient" in sides
        assert body["transcript"][1]["text"] == "I need my blood pressure pill refilled"

    async def test_repeated_client_turn_id_files_once(self, client: TestClient, engine: AsyncEngine) -> None:
        """Retrying the confirming turn returns the first result and changes nothing."""
        p = await new_patient(client)
        cid = (await start(client, p))["conversation_id"]
        text, result = "I need my blood pressure pill refilled", None
        for _ in range(20):
            turn_id = str(uuid.uuid4())
            resp = await say(client, p, cid, text, turn_id)
            result = await resp.json()
            if result["status"] == "filed":
                break
            text = answer_for(result, REFILL)
        assert result is not None and result["status"] == "filed"
        turns_before = await count(engine, Turn)
        again = await say(client, p, cid, text, turn_id)
        assert again.status == 200 and await again.json() == result
        assert await count(engine, CareRequest) == 1
        assert await count(engine, Turn) == turns_before
        closed = await say(client, p, cid, "one more thing")
        assert closed.status == 409 and (await closed.json())["error"]["code"] == "conversation_closed"

    async def test_emergency_is_redirected_counted_and_not_filed(self, client: TestClient, engine: AsyncEngine) -> None:
        """Chest pain: redirected at once, nothing filed, the clinic's counter goes up, no words stored there."""
        p = await new_patient(client)
        results = await converse_http(client, p, "I have crushing chest pain right now", {})
        assert results[-1]["status"] == "redirected" and results[-1]["triage"] == "emergency"
        assert "911" in " ".join(m["text"] for m in results[-1]["messages"])
        assert await count(engine, CareRequest) == 0
        async with db.read(engine) as conn:
            counters = (await conn.execute(select(TriageCounter.level, TriageCounter.count))).all()
        assert [(c.level, c.count) for c in counters] == [("emergency", 1)]

    async def test_conversation_for_a_dependent(self, client: TestClient) -> None:
        """A guardian may start for a linked dependent by first name; an unknown name is 422."""
        p = await new_patient(client, "Maria Santos", "maria@example.com", ("Escitalopram 10 mg tablet",),
                              [("Lucas", date(2021, 6, 1))])
        first = await start(client, p, {"patient": "Lucas"})
        assert first["status"] == "collecting"
        resp = await client.post("/api/v1/conversations", json={"patient": "Zed"}, headers=p.headers())
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "unknown_dependent"


class TestConversationOverWebSocket:
    async def test_full_conversation_files_a_request(self, client: TestClient, engine: AsyncEngine) -> None:
        """The same refill over the WebSocket ends filed; a repeated turn id is answered from storage."""
        p = await new_patient(client)
        cid = (await start(client, p))["conversation_id"]
        ws = await client.ws_connect(f"/api/v1/conversations/{cid}/ws")
        text = "I need my blood pressure pill refilled"
        result: dict[str, Any] = {}
        turn_id = ""
        for _ in range(20):
            turn_id = str(uuid.uuid4())
            await ws.send_json({"text": text, "client_turn_id": turn_id})
            result = await ws.receive_json()
            if result["status"] == "filed":
                break
            text = answer_for(result, REFILL)
        assert result["status"] == "filed" and result["request_id"]
        await ws.send_json({"text": text, "client_turn_id": turn_id})
        assert await ws.receive_json() == result
        await ws.send_str("not json")
        assert (await ws.receive_json())["error"]["code"] == "invalid_json"
        await ws.send_json({"text": "hi", "client_turn_id": "x", "extra": 1})
        assert (await ws.receive_json())["error"]["code"] == "unknown_field"
        await ws.close()
        assert await count(engine, CareRequest) == 1

    async def test_cross_site_handshake_is_refused(self, client: TestClient) -> None:
        """A WebSocket opened from another origin is refused before the upgrade."""
        p = await new_patient(client)
        cid = (await start(client, p))["conversation_id"]
        resp = await client.get(f"/api/v1/conversations/{cid}/ws", headers={
            "Origin": "https://evil.example", "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert resp.status == 403


class TestAccessControl:
    async def test_other_patients_conversation_is_404(self, client: TestClient) -> None:
        """Patient B cannot read, continue or open a socket on patient A's conversation."""
        a = await new_patient(client)
        cid = (await start(client, a))["conversation_id"]
        client.session.cookie_jar.clear()
        b = await new_patient(client, "Frank Delaney", "frank@example.com")
        assert (await client.get(f"/api/v1/conversations/{cid}")).status == 404
        resp = await say(client, b, cid, "hello")
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        assert (await client.get(f"/api/v1/conversations/{cid}/ws")).status == 404
        assert (await (await client.get("/api/v1/messages")).json())["messages"] == []

    async def test_co_guardian_reads_but_cannot_continue(self, client: TestClient, engine: AsyncEngine) -> None:
        """A second guardian linked to the same child sees the child's conversation (read-only)."""
        from sqlalchemy import insert

        from micare_bot.store.schema import DependentLink

        maria = await new_patient(client, "Maria Santos", "maria@example.com", (), [("Lucas", date(2021, 6, 1))])
        cid = (await start(client, maria, {"patient": "Lucas"}))["conversation_id"]
        own = (await start(client, maria))["conversation_id"]
        client.session.cookie_jar.clear()
        inv = await enroll(client, "Rafael Santos", "rafael@example.com", [])
        await accounts.accept_invitation(engine, inv.token, PASSWORD, now=T0)
        dep_id = next(iter((await self._dependents(engine))))
        async with db.write(engine) as conn:
            await conn.execute(insert(DependentLink).values(dependent_id=dep_id, account_id=inv.account_id,
                                                            id=str(uuid.uuid4()), status="accepted",
                                                            source="enrollment", created_at=T0))
        rafael = await sign_in(client, "rafael@example.com")
        assert (await client.get(f"/api/v1/conversations/{cid}")).status == 200
        assert (await client.get(f"/api/v1/conversations/{own}")).status == 404
        assert (await say(client, rafael, cid, "hello")).status == 403

    @staticmethod
    async def _dependents(engine: AsyncEngine) -> list[str]:
        from micare_bot.store.schema import Dependent

        async with db.read(engine) as conn:
            return list((await conn.execute(select(Dependent.id))).scalars())

    async def test_requests_need_a_session(self, client: TestClient) -> None:
        """Without a session cookie every patient endpoint is 401."""
        for method, path in (("POST", "/api/v1/conversations"), ("GET", "/api/v1/messages"),
                             ("GET", f"/api/v1/conversations/{uuid.uuid4()}")):
            resp = await client.request(method, path, json={})
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthenticated"

    async def test_writes_need_the_csrf_token_and_our_origin(self, client: TestClient) -> None:
        """A cookie alone cannot write: no token is 403; a foreign Origin is 403 even with the token."""
        p = await new_patient(client)
        assert (await client.post("/api/v1/conversations", json={})).status == 403
        resp = await client.post("/api/v1/conversations", json={},
                                 headers={**p.headers(), "Origin": "https://evil.example"})
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "bad_origin"
        resp = await client.post("/api/v1/conversations", json={}, headers={**p.headers(),
                                 "Origin": "http://127.0.0.1:8080"})
        assert resp.status == 201

    async def test_logout_ends_the_session(self, client: TestClient) -> None:
        """DELETE /session: the cookie stops working, server-side."""
        p = await new_patient(client)
        cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["micare_session"].value
        assert (await client.delete("/api/v1/session", headers=p.headers())).status == 204
        resp = await client.get("/api/v1/messages", cookies={"micare_session": cookie})
        assert resp.status == 401

    async def test_idle_session_expires(self, client: TestClient, clock: Clock) -> None:
        """Fifteen idle minutes end the session."""
        await new_patient(client)
        clock.now = T0 + timedelta(minutes=16)
        assert (await client.get("/api/v1/messages")).status == 401

    async def test_wrong_password_then_throttle(self, client: TestClient) -> None:
        """Wrong passwords are 401 with one message; the sixth try is 429 with Retry-After."""
        await new_patient(client)
        for _ in range(5):
            resp = await client.post("/api/v1/session", json={"email": "jordan@example.com", "password": "nope" * 4})
            assert resp.status == 401
        resp = await client.post("/api/v1/session", json={"email": "jordan@example.com", "password": PASSWORD})
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0


class TestBadInput:
    async def test_ten_megabyte_body_is_413(self, client: TestClient) -> None:
        """A 10 MB body is refused with the JSON error shape."""
        p = await new_patient(client)
        cid = (await start(client, p))["conversation_id"]
        big = io.BytesIO(json.dumps({"text": "a" * (10 * 1024 * 1024), "client_turn_id": "x"}).encode())
        resp = await client.post(f"/api/v1/conversations/{cid}/turns", data=big, headers=p.headers())
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "body_too_large"

    async def test_chunked_body_without_length_is_413(self, client: TestClient) -> None:
        """A streamed body with no Content-Length is cut off at the limit, also as JSON."""
        p = await new_patient(client)

        async def chunks():  # type: ignore[no-untyped-def]
            yield b'{"patient": "'
            for _ in range(200):
                yield b"a" * 1024
            yield b'"}'

        resp = await client.post("/api/v1/conversations", data=chunks(), headers=p.headers())
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "body_too_large"

    @pytest.mark.parametrize(
        "body,status,code",
        [
            ("{not json", 400, "invalid_json"),
            ("", 400, "invalid_json"),
            ("[1, 2]", 422, "invalid_request"),
            (json.dumps({"text": 5, "client_turn_id": "a"}), 422, "invalid_field"),
            (json.dumps({"text": "hi", "client_turn_id": 7}), 422, "invalid_field"),
            (json.dumps({"text": "hi"}), 422, "missing_field"),
            (json.dumps({"text": "hi", "client_turn_id": "a", "admin": True}), 422, "unknown_field"),
            (json.dumps({"text": "   ", "client_turn_id": "a"}), 422, "empty_text"),
            (json.dumps({"text": "x" * 2001, "client_turn_id": "a"}), 422, "text_too_long"),
            (json.dumps({"text": "hi", "client_turn_id": "../../etc"}), 422, "invalid_field"),
        ],
        ids=["broken", "empty", "array", "text-type", "id-type", "missing", "unknown", "blank", "long", "bad-id"],
    )
    async def test_bad_turn_bodies(self, client: TestClient, body: str, status: int, code: str) -> None:
        """Malformed turn bodies get a clean 4xx with a stable code."""
        p = await new_patient(client)
        cid = (await start(client, p))["conversation_id"]
        resp = await client.post(f"/api/v1/conversations/{cid}/turns", data=body,
                                 headers={**p.headers(), "Content-Type": "application/json"})
        assert resp.status == status
        payload = await resp.json()
        assert payload["error"]["code"] == code and payload["error"]["message"]

    async def test_bad_login_and_invitation_bodies(self, client: TestClient) -> None:
        """Wrong types on login and a declined terms box are 422, unknown routes 404, all as JSON."""
        resp = await client.post("/api/v1/session", json={"email": ["x"], "password": "y"})
        assert resp.status == 422
        resp = await client.post("/api/v1/invitations/abc/accept", json={"password": PASSWORD, "accept_terms": False})
        assert (await resp.json())["error"]["code"] == "terms_required"
        resp = await client.post("/api/v1/invitations/abc/accept", json={"password": PASSWORD, "accept_terms": True})
        assert resp.status == 404
        resp = await client.get("/api/v1/nothing-here")
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        resp = await client.put("/api/v1/session")
        assert resp.status == 405 and "error" in await resp.json()

    async def test_malformed_conversation_id_is_404(self, client: TestClient) -> None:
        """Ids that are not UUIDs never reach the database."""
        await new_patient(client)
        assert (await client.get("/api/v1/conversations/1%20OR%201=1")).status == 404


class TestHealth:
    async def test_liveness_and_readiness(self, client: TestClient) -> None:
        """/healthz answers; /readyz checks the database."""
        assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
        assert (await client.get("/readyz")).status == 200


class TestCareTeamQueue:
    async def _staff(self, client: TestClient, engine: AsyncEngine, email: str = "casey@clinic.example") -> str:
        app = client.server.app
        async with db.read(engine) as conn:
            clinic = await clinic_by_slug(conn, "demo")
        inv = await accounts.enroll(engine, app[keyring_key], app[gateway_key].settings, clinic, name="Casey Morgan",
                                    email=email, now=T0, role="staff", title="Nurse")
        await accounts.accept_invitation(engine, inv.token, PASSWORD, now=T0)
        return inv.account_id

    async def test_queue_sorted_by_due_time_and_reply_reaches_the_inbox(self, client: TestClient,
                                                                        engine: AsyncEngine, clock: Clock) -> None:
        """Two filings land in the queue soonest-due first; a staff reply shows in the patient's inbox."""
        p = await new_patient(client)
        early = (await converse_http(client, p, "I need my blood pressure pill refilled", REFILL))[-1]
        clock.now = T0 + timedelta(days=1)
        p = await sign_in(client, p.email)  # the first session has idled out
        later = (await converse_http(client, p, "I need my blood pressure pill refilled", REFILL))[-1]
        gateway = client.server.app[gateway_key]
        staff_id = await self._staff(client, engine)
        queue = await gateway.queue(staff_id, now=clock.now)
        assert [q["request_id"] for q in queue] == [early["request_id"], later["request_id"]]
        assert queue[0]["patient_words"][0] == "I need my blood pressure pill refilled"
        assert queue[0]["triage"] == "routine"
        await gateway.reply(staff_id, early["request_id"], "Sent to mail order today.", now=clock.now)
        inbox = (await (await client.get("/api/v1/messages")).json())["messages"]
        by_ref = {m["request_id"]: m for m in inbox}
        assert [r["text"] for r in by_ref[early["request_id"]]["replies"]] == ["Sent to mail order today."]
        async with db.read(engine) as conn:
            kinds = (await conn.execute(select(OutboxMessage.kind))).scalars().all()
        assert "new_message" in kinds

    async def test_patients_cannot_use_the_queue_and_staff_only_reply_in_their_clinic(
            self, client: TestClient, engine: AsyncEngine) -> None:
        """A patient asking for the queue is refused; a reply to an unknown reference is 404."""
        from micare_bot.gateway import GatewayError

        await new_patient(client)
        gateway = client.server.app[gateway_key]
        staff_id = await self._staff(client, engine)
        with pytest.raises(GatewayError) as err:
            await gateway.reply(staff_id, "R-NOPE123", "hello", now=T0)
        assert err.value.status == 404
        account = (await (await client.get("/api/v1/session")).json())["account_id"]
        with pytest.raises(GatewayError) as err:
            await gateway.queue(account, now=T0)
        assert err.value.status == 403


class TestConcurrency:
    async def test_concurrent_turns_on_one_conversation_are_serialised(self, client: TestClient,
                                                                       engine: AsyncEngine) -> None:
        """Eight simultaneous turns (two repeating one id) all answer; each stored once, in sequence."""
        import asyncio

        p = await new_patient(client)
        cid = (await start(client, p))["conversation_id"]
        ids = ["same-id", "same-id"] + [str(uuid.uuid4()) for _ in range(6)]
        responses = await asyncio.gather(*(say(client, p, cid, "a refill please", i) for i in ids))
        assert all(r.status in (200, 409) for r in responses)  # 409: an earlier turn closed it
        bodies = [await r.json() for r in responses]
        assert responses[0].status == responses[1].status and bodies[0] == bodies[1]
        answered = {i for i, r in zip(ids, responses) if r.status == 200}
        async with db.read(engine) as conn:
            rows = (await conn.execute(select(Turn.seq, Turn.client_turn_id)
                                       .where(Turn.conversation_id == cid).order_by(Turn.seq))).all()
        assert [r.seq for r in rows] == list(range(len(rows)))
        stored = [r.client_turn_id for r in rows[1:]]
        assert sorted(stored) == sorted(answered) and len(stored) >= 1


class TestFailures:
    async def test_tampered_state_is_a_clean_500_without_details(self, client: TestClient, engine: AsyncEngine,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
        """A ciphertext swapped between rows fails authentication: a JSON 500, no trace, no text in the log."""
        from sqlalchemy import update

        from micare_bot.store.schema import Conversation

        p = await new_patient(client)
        a = (await start(client, p))["conversation_id"]
        b = (await start(client, p))["conversation_id"]
        async with db.write(engine) as conn:
            sealed = (await conn.execute(select(Conversation.state_enc).where(Conversation.id == b))).scalar_one()
            await conn.execute(update(Conversation).where(Conversation.id == a).values(state_enc=sealed))
        resp = await say(client, p, a, "my secret symptom words")
        assert resp.status == 500
        body = await resp.json()
        assert body == {"error": {"code": "internal",
                                  "message": "Something went wrong on our side. Please try again."}}
        assert "DecryptionError" in caplog.text and "secret symptom" not in caplog.text

    async def test_filing_is_all_or_nothing(self, client: TestClient, engine: AsyncEngine) -> None:
        """If the outbox row cannot be written, no queue row, no status change and no turn are kept."""
        from sqlalchemy import text as sql_text

        from micare_bot.store.schema import Conversation

        p = await new_patient(client)
        cid = (await start(client, p))["conversation_id"]
        text, result = "I need my blood pressure pill refilled", {}
        for _ in range(20):
            result = await (await say(client, p, cid, text)).json()
            if result["awaiting"] == "confirm":
                break
            text = answer_for(result, REFILL)
        assert result["awaiting"] == "confirm"
        async with db.write(engine) as conn:  # the database refuses new outbox rows from now on
            if conn.dialect.name == "sqlite":
                await conn.execute(sql_text("CREATE TRIGGER outbox_down BEFORE INSERT ON outbox "
                                            "BEGIN SELECT RAISE(ABORT, 'outbox down'); END"))
            else:
                await conn.execute(sql_text("CREATE FUNCTION outbox_down() RETURNS trigger LANGUAGE plpgsql AS "
                                            "$$ BEGIN RAISE EXCEPTION 'outbox down'; END $$"))
                await conn.execute(sql_text("CREATE TRIGGER outbox_down BEFORE INSERT ON outbox "
                                            "FOR EACH ROW EXECUTE FUNCTION outbox_down()"))
        turns_before = await count(engine, Turn)
        resp = await say(client, p, cid, "yes", "confirm-1")
        assert resp.status == 500
        assert await count(engine, CareRequest) == 0
        assert await count(engine, Turn) == turns_before
        async with db.read(engine) as conn:
            status = (await conn.execute(select(Conversation.status).where(Conversation.id == cid))).scalar_one()
        assert status == "confirming"
        assert (await audit.verify(engine)).ok
        async with db.write(engine) as conn:  # the outbox is back: the retry files once
            await conn.execute(sql_text("DROP TRIGGER outbox_down" if conn.dialect.name == "sqlite"
                                        else "DROP TRIGGER outbox_down ON outbox"))
        retry = await (await say(client, p, cid, "yes", "confirm-1")).json()
        assert retry["status"] == "filed" and await count(engine, CareRequest) == 1
