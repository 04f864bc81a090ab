"""Hot-word correction: mis-recognitions become hot words, ordinary words survive."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.domain.hotwords import HotWordCorrector

BANKING = (
    "PIX", "TED", "DOC", "CDB", "Nubank", "Itaú", "Bradesco", "Selic", "Santander", "Caixa",
    "Banco do Brasil", "Inter", "C6", "PicPay", "Mercado Pago", "FGTS", "INSS", "LCI", "LCA",
    "Tesouro Direto",
)  # fmt: skip

# Frequent pt-BR words, banking vocabulary, and words spelled close to the hot words above
# (`baixa`/`Caixa`, `interno`/`Inter`, `doce`/`DOC`, `peixe`/`PIX`, `teste`/`TED`). `caixa`
# itself is left out: it equals a hot word, which §5 replaces next to banking words such as
# `conta` in this list (see test_hotword_context.py).
_COMMON_TEXT = """
    o a os as um uma uns umas de do da dos das em no na nos nas por pelo pela pelos pelas para
    pra pro com sem sob sobre entre até desde contra após ante perante e ou mas porém que se
    porque quando como onde quanto então também já ainda não sim nem mais menos muito pouco
    bem mal só sempre nunca agora hoje ontem amanhã aqui ali lá eu tu ele ela nós vós eles
    elas você vocês me te lhe meu minha meus minhas seu sua seus suas nosso nossa dele dela
    isso isto aquilo esse essa este esta aquele aquela ser é era foi são estar está estou
    estava ter tem tinha tenho teve fazer faz fiz fez ir vai vou ia poder pode posso podia
    querer quer quero queria dizer diz disse saber sei sabe ver vejo viu dar dá deu dei ficar
    fica ficou passar passa passou pagar paga pago paguei pagou receber recebi recebeu falar
    falo falou precisar preciso precisa ligar liguei ligou abrir abri fechar fechou cancelar
    cancelei mandar mandei enviar enviei transferir transferi depositar sacar saquei consultar
    verificar conferir confirmar confirmo bloquear bloqueado desbloquear cadastrar cadastro
    atualizar esperar espera aguardar conta contas saldo cartão cartões crédito débito
    transferência transferências boleto boletos agência senha valor valores juros taxa taxas
    tarifa banco bancos dinheiro real reais centavos pagamento pagamentos fatura faturas
    parcela parcelas limite extrato empréstimo financiamento investimento poupança rendimento
    aplicação resgate depósito saque cheque chave código número documento documentos
    comprovante recibo nota cliente clientes atendente atendimento gerente central telefone
    celular endereço email nome sobrenome data dia mês ano semana hora minuto vez vezes coisa
    coisas problema problemas pessoa gente senhor senhora obrigado obrigada favor desculpa
    licença certo claro tudo nada cobrança débitos dívida acordo negociação desconto
    multa atraso vencimento prazo mensal anual anuidade seguro proteção fraude golpe
    segurança aplicativo app site internet online digital físico virtual conta-corrente
    corrente salário benefício aposentadoria pensão compra compras loja mercado supermercado
    farmácia posto casa família filho filha marido esposa mãe pai irmão irmã amigo
    trabalho empresa doce baixa faixa deixa peixe teste texto caixas caixinha interno interna
    inteiro inteira interesse interior entrada saída selo seleção célula santo santa salva
    bradar brado pixel piche pique pisca picada pico tédio tenda doca docas loca locar laca
    lixo luxo lice livre fácil difícil rápido devagar novo nova velho primeiro segundo
    terceiro último próximo anterior outro outra grande pequeno alto baixo direto direta
    direito direita tesoura tesoureiro certeza dúvida pergunta resposta informação sistema
    processo pois logo assim aliás inclusive apenas somente quase bastante demais tanto cada
    todo toda todos todas algum alguma nenhum nenhuma qualquer mesmo mesma própria chegar
    chegou levar levou trazer trouxe pedir pediu pedido perguntar achar acho acha pensar penso
    entender entendi lembrar esqueci esquecer usar usei voltar volta começar comecei terminar
    acabar acabou continuar tentar tentei conseguir consegui perder perdi ganhar ganhei vender
    vendi comprar comprei trocar troquei selar selado seleto sélico pixar pichar pinta pista
    piscar pires tela tema teima tinta dose dona dono dote cedo cidade baixar baixei encaixa
    encaixar intervalo interessado interessante intenção inteligente santinho sandália
    santuário cansado cansei caixão queixa queixo coxa caiu cai fundos fundo ações ação
    bolsa renda fixa variável imposto leão declaração restituição cadastral receita
    federal carteira carteirinha
"""
COMMON_WORDS = _COMMON_TEXT.split()


def correct(text: str, hot_words: tuple[str, ...] = BANKING) -> tuple[str, int]:
    return HotWordCorrector(hot_words).correct(text)


REPLACED = [
    # exact, ignoring case and accents
    ("itau", "Itaú"),
    ("cdb", "CDB"),
    ("ITAÚ", "Itaú"),
    ("fgts", "FGTS"),
    ("santandér", "Santander"),
    # phonetic
    ("pics", "PIX"),
    ("pix", "PIX"),
    ("piks", "PIX"),
    ("doque", "DOC"),
    ("tedi", "TED"),
    ("picpei", "PicPay"),
    # similar (ratio >= 80)
    ("bradeco", "Bradesco"),
    ("bradesko", "Bradesco"),
    ("selique", "Selic"),
    ("santande", "Santander"),
    ("nubanque", "Nubank"),
    # two adjacent words merge
    ("nu bank", "Nubank"),
    ("Nu Bank", "Nubank"),
    ("pic pay", "PicPay"),
    ("pic pei", "PicPay"),
    ("ita u", "Itaú"),
    # multi-word hot words, in any case and accents
    ("banco do brasil", "Banco do Brasil"),
    ("BANCO DO BRASIL", "Banco do Brasil"),
    ("banco do brazil", "Banco do Brasil"),
    ("mercado pago", "Mercado Pago"),
    ("tesouro direto", "Tesouro Direto"),
    ("Tesouro direto", "Tesouro Direto"),
    ("tesoura direto", "Tesouro Direto"),
    # a multi-word hot word written as one word, or split elsewhere (§5)
    ("mercadopago", "Mercado Pago"),
    ("MercadoPago", "Mercado Pago"),
    ("bancodo brasil", "Banco do Brasil"),
    ("banco dobrasil", "Banco do Brasil"),
    ("bancodobrasil", "Banco do Brasil"),
    ("tesourodireto", "Tesouro Direto"),
]


@pytest.mark.parametrize(("spoken", "hot_word"), REPLACED)
def test_mis_recognition_becomes_the_hot_word(spoken: str, hot_word: str) -> None:
    assert correct(f"fiz um {spoken} ontem") == (f"fiz um {hot_word} ontem", 1)


KEPT = [
    "teste",  # not TED
    "peixe",  # not PIX
    "doce",  # not DOC: one inserted letter
    "baixa",  # not Caixa: another first sound
    "faixa",
    "caixas",  # the plural noun, not the bank
    "interno",  # not Inter: letters inserted into the hot word
    "inteira",
    "encaixa",
    "loca",  # not LCA
    "te",  # under 3 letters: exact matches only (ratio with TED is 80)
    "pi",
    "nu",
    "tesouro",  # a part of a multi-word hot word is not the hot word
    "mercado",
    "banco",
    "o mercado pagou",  # the hot word plus inserted letters
    "c d b",  # three words never merge into a one-word hot word
    "mercadopagou",  # the joined hot word with letters added
    "mais do que",  # two short words that sound like a short acronym
    "te de",
    "tesouro de",  # a multi-word hot word matches word by word, not letters overall
    "mercado o",
]


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_words_survive(text: str) -> None:
    assert correct(text) == (text, 0)


def test_the_word_list_is_long_enough_to_mean_something() -> None:
    assert len(set(COMMON_WORDS)) >= 300


@pytest.mark.parametrize("word", COMMON_WORDS)
def test_common_word_is_not_replaced(word: str) -> None:
    assert correct(word) == (word, 0)


def test_common_words_in_one_long_segment_are_not_merged_into_hot_words() -> None:
    text = " ".join(COMMON_WORDS)
    assert correct(text) == (text, 0)


def test_public_example() -> None:
    assert correct("fiz um pics pro meu irmão", ("PIX",)) == ("fiz um PIX pro meu irmão", 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pics, bradeco.", "PIX, Bradesco."),
        ("(pics)", "(PIX)"),
        ("selique?!", "Selic?!"),
        ('"nu bank"', '"Nubank"'),
        ("banco do brasil:", "Banco do Brasil:"),
        ("--pics--", "--PIX--"),
    ],
)
def test_punctuation_around_words_is_kept(text: str, expected: str) -> None:
    assert correct(text)[0] == expected


def test_a_merge_never_crosses_punctuation() -> None:
    # Apart, "nu" is too short and "bank" sounds like something else: nothing to replace.
    assert correct("nu, bank") == ("nu, bank", 0)
    assert correct("mercado. pago") == ("mercado. pago", 0)


def test_everything_else_is_kept_exactly() -> None:
    text = "  Então\tEU fiz   um pics\n e paguei o bradeco  "
    assert correct(text) == ("  Então\tEU fiz   um PIX\n e paguei o Bradesco  ", 2)


@pytest.mark.parametrize(
    "text",
    [
        "R$ 1.234,56",
        "pix@banco.com.br",
        "pics2",
        "123.456.789-09",
        "100%",
        "https://itau.com.br/pix",
        "snake_pix",
    ],
)
def test_formatted_entities_are_never_touched(text: str) -> None:
    assert correct(text) == (text, 0)


def test_entity_between_words_blocks_a_merge() -> None:
    assert correct("nu 12 bank") == ("nu 12 bank", 0)


def test_hot_word_with_digits_only_matches_what_is_written() -> None:
    # Words carrying digits are entities: "c6" is left as the recogniser wrote it.
    assert correct("o c6 e o C6", ("C6",)) == ("o c6 e o C6", 0)
    assert correct("cseis", ("C6",)) == ("cseis", 0)


def test_short_hot_word_matches_only_exactly() -> None:
    assert correct("oi ou io", ("Oi",)) == ("Oi ou io", 1)


def test_exact_beats_phonetic_beats_similar() -> None:
    # "pics" sounds like PIX but equals the hot word "Pics".
    assert correct("pics", ("PIX", "Pics")) == ("Pics", 1)
    # "selique" is 93 alike "Seliquer" but only 83 alike "Selic", which it sounds like.
    assert correct("selique", ("Seliquer", "Selic")) == ("Selic", 1)


def test_highest_ratio_wins_among_similar_hot_words() -> None:
    assert correct("bradeco", ("Brades", "Bradesco")) == ("Bradesco", 1)


def test_first_configured_wins_a_tie() -> None:
    # Both sound like "pics" and are 75 alike it.
    assert correct("pics", ("Piks", "Picx"))[0] == "Piks"
    assert correct("pics", ("Picx", "Piks"))[0] == "Picx"


def test_merge_only_when_it_beats_the_single_words() -> None:
    # "o pix" is 86 alike "pix", but "pix" alone is exact: the article stays.
    assert correct("o pix") == ("o PIX", 1)
    assert correct("de bradeco") == ("de Bradesco", 1)
    # "bank" alone is 80 alike "nubank" yet the merge is exact, so the merge wins.
    assert correct("nu bank") == ("Nubank", 1)


def test_longest_exact_match_wins() -> None:
    assert correct("banco do brasil", ("Banco", "Banco do Brasil")) == ("Banco do Brasil", 1)
    assert correct("banco inter", ("Banco", "Banco do Brasil")) == ("Banco inter", 1)


def test_hits_count_only_changes() -> None:
    assert correct("PIX, pix e Pics e Bradesco") == ("PIX, PIX e PIX e Bradesco", 2)
    assert correct("itau itaú Itaú") == ("Itaú Itaú Itaú", 2)


def test_several_hot_words_in_one_segment() -> None:
    text = "mandei um pics do nu bank pro bradeco e apliquei no tesouro direto pela selique"
    expected = "mandei um PIX do Nubank pro Bradesco e apliquei no Tesouro Direto pela Selic"
    assert correct(text) == (expected, 5)


def test_hot_words_are_normalised_and_deduplicated() -> None:
    corrector = HotWordCorrector(["  Banco   do Brasil ", "PIX", "pix", "Pix"])
    assert corrector.hot_words == ("Banco do Brasil", "PIX")
    assert corrector.correct("banco do brasil") == ("Banco do Brasil", 1)


@pytest.mark.parametrize(
    ("hot_words", "message"),
    [
        ("PIX", "not one string"),
        (["PIX", "   "], "#1 is blank"),
        (["PIX", "!!!"], "no letters or digits"),
        (["PIX", 3], "#1 is a int"),
    ],
)
def test_bad_hot_words_are_rejected(hot_words: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        HotWordCorrector(hot_words)  # type: ignore[arg-type]


# Properties ------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from("abcdeéfghiíjklmnoópqrstuúvwxyzç ABCPXT.,!?-\t\n0123456789@$"),
    max_size=80,
)
_HOT_WORDS = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzÉPIXTD ", min_size=1, max_size=15).filter(
        lambda word: any(ch.isalnum() for ch in word)
    ),
    max_size=6,
)


@given(_TEXT)
def test_without_hot_words_the_text_is_unchanged(text: str) -> None:
    assert HotWordCorrector([]).correct(text) == (text, 0)


@given(_TEXT, _HOT_WORDS)
def test_output_never_has_more_words_than_input(text: str, hot_words: list[str]) -> None:
    output, hits = HotWordCorrector(hot_words).correct(text)
    assert len(output.split()) <= len(text.split())
    if hits == 0:
        assert output == text


@given(st.text(alphabet="fghjlmnuvz ,.!\n", max_size=80))
def test_text_without_near_matches_is_unchanged(text: str) -> None:
    assert correct(text, ("PIX", "Bradesco", "Itaú", "Selic")) == (text, 0)


# Pairs of common words that do spell (or nearly spell) a multi-word hot word.
_HOT_PHRASES = {
    ("mercado", "pago"),
    ("tesouro", "direto"),
    ("tesouro", "direta"),
    ("tesoura", "direto"),
    ("tesoura", "direta"),
}


def _no_hot_phrase(words: list[str]) -> bool:
    return _HOT_PHRASES.isdisjoint(itertools.pairwise(words))


@given(st.lists(st.sampled_from(COMMON_WORDS), max_size=25).filter(_no_hot_phrase))
def test_common_words_in_any_order_survive(words: list[str]) -> None:
    text = " ".join(words)
    assert correct(text) == (text, 0)


_SPOKEN = st.sampled_from([*COMMON_WORDS, *(spoken for spoken, _ in REPLACED), *BANKING])


@given(st.lists(_SPOKEN, max_size=12))
def test_correcting_twice_changes_nothing_more(words: list[str]) -> None:
    corrector = HotWordCorrector(BANKING)
    once, hits = corrector.correct(" ".join(words))
    assert hits <= len(words)
    assert corrector.correct(once) == (once, 0)
