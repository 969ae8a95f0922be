"""Which language a message is written in, when it is clearly not English.

Someone who writes in Polish, Urdu or Arabic gets the language card
(``data/languages.yml``): 999 and how to ask for an interpreter, in their own
language. Answering an English message with a card in another language would
be worse than useless, so the rules here lean hard towards English:

* **Script first.** Gurmukhi, Bengali and Cyrillic letters name the language
  outright (Panjabi, Bengali, Ukrainian). Arabic script is shared by Arabic,
  Urdu and Panjabi in Shahmukhi: letters that Arabic does not use (ٹ ڈ ڑ ں ے
  and Persian-style ک ی) mark Urdu or Shahmukhi, and Panjabi's own common words
  (وچ، نوں، اے، تسیں) tell Shahmukhi from Urdu.
* **Latin letters** are where English, Polish, Romanian, Portuguese, Spanish,
  Welsh and Urdu in Latin letters (Roman Urdu) all meet. A statistical
  identifier is trusted only on a message long enough for it and only when
  confident; short messages count only with words that English never uses
  (``pomocy``, ``ajutor``, ``socorro``). Roman Urdu is not a language the
  identifiers know, so it is recognised by its common words.

Everything else is English, which is what the rest of the bot speaks.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Optional

ENGLISH = "en"
# What detect() can answer besides English; each needs a card in data/languages.yml.
DETECTED = ("pl", "ro", "pa-Guru", "pa-Arab", "ur", "pt", "es", "ar", "bn", "cy", "uk")
RTL_MARK = "\u200f"
LTR_ISOLATE, POP_ISOLATE = "\u2066", "\u2069"

# Each script's letters, by Unicode block.
_GURMUKHI = re.compile(r"[\u0A00-\u0A7F]")
_BENGALI = re.compile(r"[\u0980-\u09FF]")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
# Letters of Urdu and Shahmukhi that Arabic does not use: ٹ ڈ ڑ ں ھ ہ ے ۓ ک گ پ چ ژ ی.
_URDU_LETTERS = re.compile(r"[\u0679\u0688\u0691\u06BA\u06BE\u06C1\u06D2\u06D3\u06A9\u06AF\u067E\u0686\u0698\u06CC]")
# Letters of Arabic that Urdu spells otherwise: ة ى ك ي.
_ARABIC_LETTERS = re.compile(r"[\u0629\u0649\u0643\u064A]")
# Panjabi's everyday words in Shahmukhi that Urdu does not use.
_SHAHMUKHI_WORDS = frozenset(
    "وچ نوں اے تے تسیں تہانوں مینوں ساڈا ساڈی ایہ اوہ اوہناں کیہ کدے ہن ویلے سکدا سکدی سکدے "
    "ایہہ جیہڑا جیہڑے جیہڑی دا دی دے گیا نیں سی توں کردا کردی کرو منگو دس دسو ودھ پتر دھی".split())
# Urdu's everyday words that Panjabi says otherwise.
_URDU_WORDS = frozenset(
    "ہے ہیں کے کو سے کیا یہ وہ اور آپ مجھے میرا ہوں تھا تھی رہا رہی "
    "سکتی سکتا سکتے بیٹی بیٹا".split())

# Roman Urdu: everyday words, none of them English. A message needs two of them.
_ROMAN_URDU = frozenset("""
    mera meri mere mujhe mujhay hum humara hamara aap ap apka apki apne apni tum tumhara
    hai hain hay hy nahi nahin nai nhi kya kia kyun kyon kaise kese kaisay kab kahan
    karo karein karen kar raha rahi rahe hoon hun hu tha thi thay ho gaya gayi gai
    madad bachao bacha bachay bache bachi beti beta bete larki larka larkay ghar abhi
    abi jaldi please plz bohat bohot bahut bht dar darr lag lagta lagti pareshan
    khatra khatre khatray mein mai main ko ki ke ka se par pe bhi aur ya koi kuch
    wo woh ye yeh usne usko unhon ne bolo batao bata sakti sakta sakte chahiye
    shukriya ammi abbu bhai behen baji police wala wali log
""".split())
# Words that mean Roman Urdu only in company: English has them too.
_ROMAN_URDU_SHARED = frozenset("main mein mai ho ko ki ke ka se par pe ye ya bhi plz please police log lag kar hum ap".split())

# Words that English never uses, enough alone even in a one-word message.
_TELLTALE = {
    "pl": "pomocy pomoc pomozcie pomóżcie ratunku prosze proszę dziecko córka corka syn boje boję "
          "jest nie się sie mnie teraz niebezpieczeństwie niebezpieczenstwie policja",
    "ro": "ajutor ajutati ajutați va vă rog copilul fiica fiul mi-e frica frică pericol acum "
          "sunt este nu poliția politia",
    "pt": "é socorro ajuda ajudem me filha filho criança crianca perigo agora estou está tenho "
          "medo polícia policia não nao minha meu",
    "es": "ayuda ayúdame ayudame auxilio socorro hija hijo niña niño peligro ahora estoy está "
          "tengo miedo policía policia mi",
    "cy": "helpwch plis fy merch mab plentyn perygl nawr rŵan dw i'n mae ofn heddlu dydy "
          "dwi yma",
}
TELLTALE_WORDS = {lang: frozenset(words.split()) for lang, words in _TELLTALE.items()}
# Words of these that are also English words, or too short to prove anything alone.
_TELLTALE_WEAK = frozenset("me mi nu fy mab mae i'n nie jest syn está esta nawr yma meu".split())

# Common English words (none of them a word of the Latin-script languages
# here): a message that is a third made of them is English, whatever an
# identifier says ("feel like i cant go on" is not Welsh). Most English
# messages stop here, before the identifier, which also keeps the cost down.
ENGLISH_WORDS = frozenset("""
    the and is are was were be been am im i'm you your you're u ur r my mine he she him her his
    hers it its it's they them their we us our this that these those what wat when where who why
    how which there here have has had do does did dont don't cant can't cannot wont won't not
    just like feel go going gone get got know dunno think want need help please pls plz
    with without about from into out up down over after before now then than so if or but
    because cos coz of for at by to too very really all any some one two no yes yeah ok okay
    hi hey hello thanks thank ty ta sorry call phone number police child children kid kids
    son daughter girl boy man men woman mum mom dad mother father friend mate school skl
    home house car flat night day today tonight last next time real person bot chat
    scared worried afraid safe danger hurt happened happening tell told say said report
    would could should will shall may might must can just still again also only even
""".split())
# Letters that, among these languages, only one writes (ó and é are shared).
_OWN_LETTERS = {
    "pl": re.compile(r"[ąęłńśźżĄĘŁŃŚŹŻ]"),
    "ro": re.compile(r"[ăîșțşţĂÎȘȚŞŢ]"),
    "pt": re.compile(r"[ãõçÃÕÇ]"),
    "es": re.compile(r"[ñ¿¡Ñ]"),
    "cy": re.compile(r"[ŵŷŴŶ]"),
}
LATIN_LANGUAGES = ("pl", "ro", "pt", "es", "cy")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")

# The identifier sees a message only when it is at least this long, and
# its answer counts only at this confidence.
MIN_LETTERS = 12
MIN_WORDS = 3
MIN_CONFIDENCE = 0.8
# The identifier reads no more than this: a sentence or two decides, and its
# cost grows with the length (a 300-word message would cost milliseconds).
IDENTIFY_CHARS = 200

Identify = Callable[[str], "tuple[str, float]"]


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(unicodedata.normalize("NFC", text))]


def detect(text: str, identify: Optional[Identify] = None) -> str:
    """The language of ``text`` (a code in ``data/languages.yml``), or ``"en"``."""
    by_script = _by_script(text)
    if by_script:
        return by_script
    tokens = words(text)
    if not tokens:
        return ENGLISH
    urdu = [w for w in tokens if w in _ROMAN_URDU]
    if len(urdu) >= 2 and len(urdu) - len([w for w in urdu if w in _ROMAN_URDU_SHARED]) >= 1 \
            and len(urdu) * 3 >= len(tokens):
        return "ur"
    if len(tokens) == 1 and tokens[0] in {"madad", "bachao"}:
        return "ur"
    if sum(w in ENGLISH_WORDS for w in tokens) * 3 >= len(tokens):
        return ENGLISH
    telltale = _by_letters(text) or _by_telltale(tokens)
    letters = sum(len(w) for w in tokens)
    if identify is None or letters < MIN_LETTERS or len(tokens) < MIN_WORDS:
        return telltale or ENGLISH
    language, confidence = identify(text[:IDENTIFY_CHARS])
    if language in LATIN_LANGUAGES and confidence >= MIN_CONFIDENCE:
        return language
    return telltale or ENGLISH


def _by_letters(text: str) -> Optional[str]:
    """The one language whose own letters the message uses, if only one's are there."""
    found = [lang for lang, letters in _OWN_LETTERS.items() if letters.search(text)]
    return found[0] if len(found) == 1 else None


def _by_telltale(tokens: list[str]) -> Optional[str]:
    """A language whose unmistakable words make up a good share of a short message."""
    best, best_count = None, 0
    for lang, vocabulary in TELLTALE_WORDS.items():
        strong = [w for w in tokens if w in vocabulary and w not in _TELLTALE_WEAK]
        count = len([w for w in tokens if w in vocabulary])
        if strong and count * 3 >= len(tokens) and count > best_count:
            best, best_count = lang, count
    return best


def _by_script(text: str) -> Optional[str]:
    """The language that the letters alone decide, when at least a few are not Latin."""
    counts = {
        "pa-Guru": len(_GURMUKHI.findall(text)),
        "bn": len(_BENGALI.findall(text)),
        "uk": len(_CYRILLIC.findall(text)),
        "arabic": len(_ARABIC.findall(text)),
    }
    script, count = max(counts.items(), key=lambda item: item[1])
    if count < 3:
        return None
    if script != "arabic":
        return script
    urdu_letters = len(_URDU_LETTERS.findall(text))
    arabic_letters = len(_ARABIC_LETTERS.findall(text))
    if arabic_letters > urdu_letters:
        return "ar"
    if urdu_letters == 0:
        return "ar"
    tokens = words(text)
    shahmukhi = sum(w in _SHAHMUKHI_WORDS for w in tokens)
    urdu = sum(w in _URDU_WORDS for w in tokens)
    return "pa-Arab" if shahmukhi > urdu else "ur"


def identifier() -> Identify:
    """py3langid's model (shipped in its wheel), choosing among English and our Latin-script languages.

    Restricting it to these makes its answers on short text far steadier;
    anything else written in Latin letters is then "English", which is what
    the bot would answer in anyway.
    """
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    model = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
    model.set_languages([*LATIN_LANGUAGES, ENGLISH])

    def identify(text: str) -> tuple[str, float]:
        language, confidence = model.classify(text)
        return str(language), float(confidence)

    return identify


# --- the card as the person receives it -----------------------------------------

# A run of left-to-right material inside right-to-left text: placeholders (with
# a number in brackets after a name), quoted English words, numbers.
_LTR_RUN = re.compile(r'\[[a-z0-9_.]+\](?:\s*\(\[[a-z0-9_.]+\]\))?|"[^"]*"|\d+(?:[ -]\d+)*')


def directional(text: str, rtl: bool) -> str:
    """Text that shows the right way round in a right-to-left language.

    Telegram and bidi-aware terminals lay out each line by its first strong
    letter, and would reorder the numbers, brackets and English words that a
    card mixes in: "Childline (0800 1111)" could come out as "(1111 0800)
    Childline". Each such run is isolated as left to right (U+2066 ... U+2069),
    and each line opens with a right-to-left mark so that even a line starting
    with a number reads right to left. Placeholders are isolated before they are
    filled in, so the number from the directory lands inside the isolate.
    """
    if not rtl:
        return text
    isolated = _LTR_RUN.sub(lambda m: f"{LTR_ISOLATE}{m.group(0)}{POP_ISOLATE}", text)
    return "\n".join(RTL_MARK + line if line else line for line in isolated.split("\n"))


def has_rtl(text: str) -> bool:
    """Whether ``text`` holds right-to-left letters (Arabic script, Hebrew)."""
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def card_text(text: dict[str, str], rtl: bool = False) -> str:
    """The card's message: 999 first, then 101, the helplines, and that the chat goes on in English."""
    paragraphs = [
        f"{text['danger']}\n{text['interpreter']}",
        text["worry"],
        f"{text['childline']}\n{text['nspcc']}",
        text["english_only"],
    ]
    return directional("\n\n".join(paragraphs), rtl)
