from __future__ import annotations

import pytest

from mediaserver.domain.addresses import find_spoken, find_written
from mediaserver.domain.document import Document
from mediaserver.domain.pixkeys import find_pix_keys


def run(text: str) -> tuple[str, list[tuple[str, str]]]:
    doc = Document(text)
    find_written(doc)
    find_pix_keys(doc)
    find_spoken(doc)
    out, entities = doc.render()
    assert all(out[e.start : e.end] == e.text for e in entities)
    return out, [(e.type, e.value) for e in entities]


@pytest.mark.parametrize(
    ("spoken", "written", "address"),
    [
        ("manda pra carla ponto souza arroba empresa ponto com",
         "manda pra carla.souza@empresa.com", "carla.souza@empresa.com"),
        ("é pedro underline alves arroba gmail ponto com ponto br ok",
         "é pedro_alves@gmail.com.br ok", "pedro_alves@gmail.com.br"),
        ("Maria hífen José arroba Correio ponto org", "maria-jose@correio.org",
         "maria-jose@correio.org"),
        ("joão traço 99 arroba uol ponto com e depois", "joao-99@uol.com e depois",
         "joao-99@uol.com"),
    ],
)  # fmt: skip
def test_spoken_email(spoken: str, written: str, address: str) -> None:
    assert run(spoken) == (written, [("email", address)])


def test_written_email_and_uuid_are_lower_cased() -> None:
    out, entities = run("Ana.Lima@Banco.COM.br ou chave 9F1C2E3D-0A1B-4C5D-8E9F-001122334455")
    assert out == "ana.lima@banco.com.br ou chave 9f1c2e3d-0a1b-4c5d-8e9f-001122334455"
    assert entities == [
        ("email", "ana.lima@banco.com.br"),
        ("pix_key", "9f1c2e3d-0a1b-4c5d-8e9f-001122334455"),
    ]


@pytest.mark.parametrize("text", ["arroba", "um arroba", "arroba de feno", "é ponto arroba"])
def test_arroba_without_two_names_is_left_alone(text: str) -> None:
    assert run(text)[0] == text
