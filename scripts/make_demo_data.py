#!/usr/bin/env python3
"""Generate a small, synthetic, NSMC-format Korean movie-review sample.

Every sentence is composed from the templates in this file; nothing is copied
from NSMC or any other corpus.  Standard library only, fully deterministic
(seeded with ``random.Random(20261204)``).

Output: ``src/plmkit/data/demo_reviews_ko.tsv``
    UTF-8, tab-separated, ``\\n`` line endings, header ``id\\tdocument\\tlabel``,
    label 1 = positive, 0 = negative.  400 rows, 200/200.

Realistic noise is injected into ~11% of the rows so that preprocessing code
has something to do: repeated characters, extra spaces, URLs (example.com /
example.org only), simple HTML tags, literal double quotes, NFD-decomposed
Hangul, 2 empty documents and 3 exact duplicate documents.

Usage:  python3 scripts/make_demo_data.py
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

SEED = 20261204
N_ROWS = 400

ROOT = Path(__file__).resolve().parent.parent
OUT_PATH = ROOT / "src" / "plmkit" / "data" / "demo_reviews_ko.tsv"

# Number of rows receiving each kind of noise (disjoint sets of rows).
NOISE_PLAN = {
    "repeat": 14,
    "spaces": 8,
    "url": 4,
    "html": 5,
    "quote": 4,
    "nfd": 5,
}
N_EMPTY = 2
N_DUPLICATE = 3

# ---------------------------------------------------------------------------
# Korean particle helper
# ---------------------------------------------------------------------------


def has_batchim(word: str) -> bool:
    """True when the last syllable of ``word`` has a final consonant."""
    ch = word[-1]
    code = ord(ch) - 0xAC00
    if 0 <= code < 11172:
        return code % 28 != 0
    return False  # CG, OST ... are read with a vowel ending


def josa(word: str, pair: str) -> str:
    """Attach the right particle: pair is one of 이가, 은는, 을를, 과와."""
    return word + (pair[0] if has_batchim(word) else pair[1])


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

# aspect -> (positive predicates, negative predicates); mixed sentence endings.
ASPECTS: dict[str, tuple[list[str], list[str]]] = {
    "연기": (
        [
            "미쳤다",
            "소름 돋았어요",
            "압권이었음",
            "진짜 자연스럽네",
            "흠잡을 데가 없었습니다",
            "좋더라",
        ],
        [
            "너무 어색했어요",
            "발연기 수준이었다",
            "국어책 읽는 줄",
            "과해서 부담스러웠음",
            "몰입을 다 깨네",
            "별로더라",
        ],
    ),
    "스토리": (
        [
            "탄탄했다",
            "짜임새 있고 흥미진진했어요",
            "예측이 안 돼서 좋았음",
            "끝까지 긴장감 있네",
            "개연성이 완벽했습니다",
            "신선하더라",
        ],
        [
            "너무 뻔했다",
            "개연성이 없어요",
            "산으로 갔음",
            "질질 끄네",
            "앞뒤가 하나도 안 맞았습니다",
            "뻔하더라",
        ],
    ),
    "연출": (
        [
            "감각적이었다",
            "세련됐어요",
            "긴장감을 잘 살렸음",
            "역량이 돋보이네",
            "깔끔했습니다",
            "좋더라",
        ],
        [
            "촌스러웠다",
            "너무 산만했어요",
            "늘어지는 장면이 많았음",
            "뭘 하고 싶은 건지 모르겠네",
            "엉성했습니다",
            "별로더라",
        ],
    ),
    "음악": (
        [
            "장면이랑 찰떡이었다",
            "좋아서 계속 생각나요",
            "분위기를 확 살렸음",
            "귀가 즐겁네",
            "웅장했습니다",
        ],
        [
            "장면이랑 따로 놀았다",
            "시끄러워서 거슬렸어요",
            "분위기를 다 깼음",
            "귀에 하나도 안 남네",
            "과했습니다",
        ],
    ),
    "OST": (
        ["아직도 귀에 남아요", "명곡이다", "귀에 맴돎", "장면마다 찰떡이었음", "진짜 좋네"],
        [
            "귀에 하나도 안 남아요",
            "너무 올드했다",
            "귀에 안 들어옴",
            "뜬금없이 나오네",
            "별로였습니다",
        ],
    ),
    "영상미": (
        [
            "한 장면 한 장면이 그림 같았다",
            "눈호강 그 자체예요",
            "색감이 예술임",
            "압도적이네",
            "아름다웠습니다",
        ],
        [
            "너무 칙칙했다",
            "저예산 티가 났어요",
            "화면이 너무 어두웠음",
            "흐릿하고 지저분하네",
            "형편없었습니다",
        ],
    ),
    "결말": (
        [
            "여운이 길게 남았다",
            "완벽하게 마무리됐어요",
            "소름 돋았음",
            "깔끔하네",
            "감동적이었습니다",
        ],
        ["너무 허무했다", "용두사미예요", "어이가 없었음", "대충 끝내버리네", "납득이 안 됐습니다"],
    ),
    "배우들": (
        [
            "다 연기를 잘했다",
            "케미가 너무 좋았어요",
            "하나같이 매력적이었음",
            "합이 잘 맞네",
            "열연했습니다",
        ],
        [
            "다 겉돌았다",
            "케미가 하나도 없었어요",
            "하나같이 어색했음",
            "합이 안 맞네",
            "낭비된 느낌이었습니다",
        ],
    ),
    "각본": (
        ["촘촘했다", "대사 하나하나가 살아있어요", "군더더기가 없었음", "치밀하네", "훌륭했습니다"],
        ["허술했다", "대사가 너무 오글거려요", "구멍투성이였음", "유치하네", "엉망이었습니다"],
    ),
    "캐릭터": (
        [
            "다 살아 있었다",
            "입체적이라 좋았어요",
            "하나하나 매력 있었음",
            "정이 가네",
            "잘 만들어졌습니다",
        ],
        [
            "다 평면적이었다",
            "매력이 하나도 없어요",
            "답답해서 짜증났음",
            "공감이 안 가네",
            "소모적으로 쓰였습니다",
        ],
    ),
    "액션": (
        ["시원시원했다", "박진감 넘쳐요", "합이 미쳤음", "타격감이 살아있네", "화끈했습니다"],
        [
            "어설펐다",
            "너무 느려서 답답해요",
            "합이 다 보였음",
            "타격감이 하나도 없네",
            "어디서 본 것 같았습니다",
        ],
    ),
    "반전": (
        ["소름 돋았다", "예상 못 해서 좋았어요", "제대로였음", "충격적이네", "신선했습니다"],
        [
            "너무 뻔했다",
            "예상이 다 돼서 김빠졌어요",
            "억지스러웠음",
            "어이없네",
            "없느니만 못했습니다",
        ],
    ),
    "CG": (
        ["진짜 자연스러웠다", "할리우드급이에요", "퀄리티 대박임", "실사 같네"],
        ["너무 티났다", "게임 화면 같아요", "퀄리티 처참함", "싸구려 같네"],
    ),
    "전개": (
        ["빠르고 시원했다", "속도감 있어서 좋았어요", "군더더기 없음", "쫀쫀하네"],
        ["너무 느렸다", "지루해서 하품 나왔어요", "질질 끔", "늘어지네"],
    ),
    "개그": (
        ["빵빵 터졌다", "센스 있어요", "타율 높음", "자연스럽게 웃기네"],
        ["하나도 안 웃겼다", "썰렁했어요", "억지로 웃기려고 함", "다 식상하네"],
    ),
    "분위기": (
        ["끝까지 잘 유지됐다", "몽환적이라 좋았어요", "제대로 잡혔음", "묵직하네"],
        ["오락가락했다", "어수선했어요", "갈피를 못 잡음", "처지네"],
    ),
}
ASPECT_NAMES = list(ASPECTS)

ADV = {
    1: ["정말", "진짜", "완전", "역시", "생각보다", "기대 이상으로", "의외로", "솔직히"],
    0: ["정말", "진짜", "완전", "역시나", "생각보다", "솔직히", "그냥", "좀"],
}

# Clause connectors for two-clause mixed reviews.
CONN = {
    # "<aspect>은/는 ..." (the clause that goes against the overall sentiment)
    "neg_first": [
        "좀 아쉬웠지만",
        "별로였지만",
        "약했지만",
        "뻔했지만",
        "평범했지만",
        "기대보다 못했지만",
        "아쉽긴 한데",
        "별로긴 했는데",
    ],
    "pos_first": [
        "좋았지만",
        "괜찮았지만",
        "인상적이었지만",
        "나쁘지 않았지만",
        "훌륭했지만",
        "좋긴 한데",
        "볼만은 했는데",
        "기대 이상이었지만",
    ],
}
REASON = {
    1: [
        "워낙 좋아서",
        "기대 이상이라",
        "너무 훌륭해서",
        "모든 걸 커버해서",
        "인상적이라서",
        "압도적이라",
        "다 살려서",
    ],
    0: [
        "너무 별로라",
        "엉망이라서",
        "다 망쳐서",
        "너무 실망스러워서",
        "기대 이하라",
        "최악이라",
        "다 깎아먹어서",
    ],
}

OVERALL = {
    1: [
        "추천합니다",
        "꼭 보세요",
        "또 보고 싶다",
        "시간 가는 줄 몰랐어요",
        "강력 추천",
        "재관람 각",
        "여운이 오래 남네요",
        "돈이 하나도 안 아까웠다",
        "인생 영화 등극",
        "가족이랑 보기 좋아요",
        "올해 최고의 영화",
        "N차 관람 갑니다",
        "보길 잘했다",
        "만족합니다",
        "극장에서 꼭 보세요",
        "후회 없는 선택",
        "다음 작품도 기대됩니다",
        "이 맛에 영화 본다",
        "무조건 봐야 함",
    ],
    0: [
        "비추합니다",
        "보지 마세요",
        "두 번은 못 보겠다",
        "시간 아까웠어요",
        "돈 아깝다",
        "중간에 나올 뻔",
        "기억에 남는 게 없네요",
        "졸다가 나왔음",
        "왜 만들었는지 모르겠다",
        "올해 최악의 영화",
        "실망했습니다",
        "차라리 집에서 잘걸",
        "보다가 껐음",
        "후회합니다",
        "극장에서 볼 필요 없음",
        "최악의 선택",
        "다음 작품은 안 볼 듯",
        "이럴 거면 왜 봤나 싶다",
        "굳이 볼 필요 없음",
    ],
}

CONTEXT = [
    "주말에 가족이랑",
    "친구랑 심야로",
    "혼자",
    "넷플릭스로",
    "기대 없이",
    "큰 기대하고",
    "예고편 보고",
    "평점 보고",
    "비 오는 날",
    "시사회에서",
    "애인이랑",
    "부모님이랑",
    "OTT로",
    "IMAX로",
    "조조로",
    "퇴근하고",
    "원작 팬이라",
    "입소문 듣고",
]
RESULT = {
    1: [
        "생각보다 훨씬 재밌었어요",
        "완전 몰입해서 봤다",
        "울면서 나왔음",
        "진짜 감동받았네요",
        "시간 가는 줄 몰랐다",
        "웃다가 배 아팠어요",
        "끝나고 박수 쳤음",
        "기대 이상이었습니다",
        "눈물 콧물 다 쏟았다",
        "여운이 아직도 남아있어요",
    ],
    0: [
        "생각보다 너무 지루했어요",
        "전혀 몰입이 안 됐다",
        "졸다가 나왔음",
        "진짜 실망했네요",
        "시간만 버렸다",
        "하나도 안 웃겼어요",
        "끝나자마자 한숨 나왔음",
        "기대 이하였습니다",
        "팝콘만 먹다 나왔다",
        "남는 게 하나도 없어요",
    ],
}

SHORT = {
    1: [
        "최고다",
        "최고의 영화",
        "인생영화",
        "강추합니다",
        "명작이네요",
        "재밌어요",
        "감동 그 자체",
        "꿀잼 인정",
        "완벽한 영화",
        "대박이다",
        "또 보고 싶다",
        "존잼ㅋㅋ",
        "띵작 인정",
        "여운 대박",
        "굿굿 추천",
        "믿고 보는 배우",
        "좋다",
        "강추",
        "꿀잼",
        "재밌음",
    ],
    0: [
        "노잼",
        "별로임",
        "비추합니다",
        "최악이다",
        "지루함 그 자체",
        "시간낭비",
        "돈 아까움",
        "실망이다",
        "졸작이네요",
        "핵노잼ㅋㅋ",
        "그냥 그럼",
        "망작 인정",
        "잠만 잤다",
        "보지 마세요",
        "이건 아니다",
        "별로다",
        "비추",
        "노잼임",
        "지루함",
        "돈 아깝다",
    ],
}
SHORT_PUNCT = ["", "", "", ".", "!", "..", "~", "!!", "...", "ㅋㅋ"]

ROLES = [
    "주연 배우",
    "조연들",
    "아역 배우",
    "악역",
    "남주",
    "여주",
    "주인공",
    "신인 배우",
    "카메오",
]
ROLE_PRED = {
    1: [
        "연기 진짜 미쳤다",
        "연기에 소름 돋았어요",
        "연기가 자연스러웠음",
        "존재감이 압권이었다",
        "연기 몰입감 장난 아님",
        "덕분에 끝까지 봤네요",
        "하드캐리함",
        "눈빛 연기가 최고였다",
    ],
    0: [
        "연기가 너무 어색했어요",
        "발연기 수준임",
        "연기가 부자연스러웠음",
        "혼자 겉돌았다",
        "나올 때마다 몰입 깨짐",
        "때문에 끝까지 보기 힘들었네요",
        "분량만 많음",
        "표정 연기가 최악이었다",
    ],
}

COMPARE_REF = ["원작", "전편", "1편", "예고편", "소설", "감독 전작", "드라마판"]
COMPARE = {
    1: [
        "보다 훨씬 낫네요",
        "보다 나음",
        "을 뛰어넘었다",
        "만큼 좋았어요",
        "보다 몇 배는 재밌음",
        "팬이라면 만족할 듯",
    ],
    0: [
        "보다 한참 못하네요",
        "만 못함",
        "을 다 망쳐놨다",
        "이 더 재밌었어요",
        "보다 몇 배는 지루함",
        "팬이라면 화날 듯",
    ],
}

RHETORIC = {
    1: [
        "이걸 왜 이제야 봤을까",
        "왜 입소문 났는지 알겠다",
        "이런 영화가 왜 흥행을 못 했지",
        "평점이 오히려 낮은 듯",
        "이 영화 모르는 사람 없었으면",
    ],
    0: [
        "이게 왜 평점이 높은지 모르겠음",
        "이 정도로 입소문 날 영화는 아닌 듯",
        "이런 영화가 왜 흥행했지",
        "평점 알바 있는 듯",
        "이 영화 본 기억 지우고 싶다",
    ],
}

MISC = {
    1: [
        "러닝타임 2시간이 순식간",
        "3번째 관람인데도 좋네요",
        "엔딩 크레딧까지 다 보고 나왔어요",
        "보고 나서 원작까지 찾아봤음",
        "극장에서 다들 박수 쳤다",
        "팝콘 먹는 것도 잊고 봤음",
        "감독 다음 작품도 기대된다",
        "주변에 다 추천하는 중",
        "끝나고도 한참 자리에 앉아 있었다",
        "보고 나오는데 발걸음이 가벼웠음",
        "간만에 극장 온 보람이 있네요",
        "두 시간 내내 웃었다",
    ],
    0: [
        "러닝타임 2시간 반이 너무 길다",
        "1시간 만에 나왔음",
        "엔딩 크레딧 올라가자마자 나왔어요",
        "보고 나서 원작이 불쌍해짐",
        "극장에서 다들 핸드폰만 봤다",
        "팝콘이 더 재밌었음",
        "감독 다음 작품은 거를 듯",
        "주변에 다 말리는 중",
        "끝나기만 기다리면서 시계만 봤다",
        "보고 나오는데 머리가 아팠음",
        "간만에 극장 왔는데 허탈하네요",
        "두 시간 내내 하품했다",
    ],
}

ENGLISH = {
    1: [
        "CG 퀄리티 good",
        "OST 진짜 best",
        "스토리 perfect, 연기 perfect",
        "완전 my style 영화",
        "Best of best",
        "10/10 강추",
        "연출 good 연기 good",
    ],
    0: [
        "CG 퀄리티 bad",
        "스토리 so so, 연출은 worst",
        "완전 not my style",
        "Worst movie ever",
        "1/10 비추",
        "연출 bad 연기 bad",
    ],
}

END_PUNCT = ["", "", ".", ".", "!", "..", "~", "...", "ㅎㅎ", "ㅋㅋ"]
END_PUNCT_NEG = ["", "", ".", ".", "..", "...", "ㅡㅡ", "ㅋㅋ", ";;", "!"]


# ---------------------------------------------------------------------------
# Template families
# ---------------------------------------------------------------------------


def punct(rng: random.Random, label: int) -> str:
    return rng.choice(END_PUNCT if label else END_PUNCT_NEG)


def aspect_sentence(rng: random.Random, label: int, aspect: str | None = None) -> str:
    aspect = aspect or rng.choice(ASPECT_NAMES)
    pred = rng.choice(ASPECTS[aspect][0 if label else 1])
    style = rng.random()
    if style < 0.4:
        subj = josa(aspect, "이가")
    elif style < 0.7:
        subj = josa(aspect, "은는")
    else:
        subj = aspect  # informal, particle dropped
    if rng.random() < 0.5:
        adv = rng.choice(ADV[label])
        if not pred.startswith(adv) and not pred.startswith("너무") and not pred.startswith("진짜"):
            pred = f"{adv} {pred}"
    return f"{subj} {pred}"


def fam_aspect(rng, label):
    s = aspect_sentence(rng, label) + punct(rng, label)
    if rng.random() < 0.45:
        s = f"{s} {rng.choice(OVERALL[label])}{punct(rng, label)}"
    return s


def fam_contrast(rng, label, aspects=None):
    a1, a2 = aspects or rng.sample(ASPECT_NAMES, 2)
    first = CONN["neg_first"] if label else CONN["pos_first"]
    s = (
        f"{josa(a1, '은는')} {rng.choice(first)} {josa(a2, '이가')} "
        f"{rng.choice(REASON[label])} {rng.choice(OVERALL[label])}"
    )
    return s + punct(rng, label)


def fam_context(rng, label):
    s = f"{rng.choice(CONTEXT)} 봤는데 {rng.choice(RESULT[label])}{punct(rng, label)}"
    if rng.random() < 0.35:
        s = f"{s} {rng.choice(OVERALL[label])}{punct(rng, label)}"
    return s


def fam_short(rng, label):
    s = rng.choice(SHORT[label]) + rng.choice(SHORT_PUNCT)
    if len(s) < 3:
        s += rng.choice(["!", ".", "..", "~"] if label else [".", "..", ";;", "ㅡㅡ"])
    return s


def fam_rating(rng, label):
    r = rng.random()
    if r < 0.45:
        n = rng.choice([8, 9, 10, 10]) if label else rng.choice([1, 1, 2, 3])
        s = f"10점 만점에 {n}점"
        if rng.random() < 0.7:
            s += f". {rng.choice(OVERALL[label] + SHORT[label])}"
    elif r < 0.7:
        s = rng.choice(
            ["별 다섯 개도 부족하다", "평점 10점 드립니다", "별점 만점 드려요", "10점 줍니다"]
            if label
            else ["별 하나도 아깝다", "평점 1점도 아까움", "별점 1개도 과분함", "1점 줍니다"]
        )
    else:
        s = (
            "100점 주고 싶은데 10점이 최대라 아쉽네요"
            if label
            else "0점 주고 싶은데 1점부터라 아쉽네요"
        )
        s = f"{aspect_sentence(rng, label)}. {s}"
    return s + punct(rng, label)


def fam_role(rng, label):
    role = rng.choice(ROLES)
    s = f"{role} {rng.choice(ROLE_PRED[label])}{punct(rng, label)}"
    if rng.random() < 0.4:
        s = f"{s} {rng.choice(OVERALL[label])}{punct(rng, label)}"
    return s


def fam_compare(rng, label):
    ref = rng.choice(COMPARE_REF)
    tail = rng.choice(COMPARE[label])
    if tail.startswith("을"):
        s = josa(ref, "을를") + tail[1:]
    elif tail.startswith("이 "):
        s = josa(ref, "이가") + tail[1:]
    elif tail.startswith("팬"):
        s = f"{ref} {tail}"
    else:
        s = ref + tail
    return s + punct(rng, label)


def fam_rhetoric(rng, label):
    s = rng.choice(RHETORIC[label])
    marks = ["", "..", "...", "ㅋㅋ"]
    if s.endswith(("지", "까")):
        marks += ["?", "?", "?"]
    s += rng.choice(marks)
    if rng.random() < 0.5:
        s = f"{s} {aspect_sentence(rng, label)}{punct(rng, label)}"
    return s


def fam_misc(rng, label):
    s = rng.choice(MISC[label]) + punct(rng, label)
    if rng.random() < 0.5:
        s = f"{s} {rng.choice(OVERALL[label])}{punct(rng, label)}"
    return s


def fam_english(rng, label):
    s = rng.choice(ENGLISH[label])
    if rng.random() < 0.6:
        s = f"{s} {rng.choice(SHORT[label])}{punct(rng, label)}"
    return s


def fam_long(rng, label):
    """2-4 sentences, up to ~120 characters."""
    first_aspects = rng.sample(ASPECT_NAMES, 2)
    first_aspect = first_aspects[0]
    starts = [
        lambda: f"{rng.choice(CONTEXT)} 봤는데 {rng.choice(RESULT[label])}.",
        lambda: fam_contrast(rng, label, first_aspects),
        lambda: aspect_sentence(rng, label, first_aspect) + ".",
        lambda: rng.choice(MISC[label]) + ".",
    ]
    first = rng.choice(starts)()
    if not first.endswith((".", "!", "~", "ㅋ", "ㅎ", "ㅡ", ";")):
        first += "."
    pieces = [first]
    used = set(first_aspects)  # membership only; never iterated
    for _ in range(rng.randint(1, 3)):
        a = rng.choice(ASPECT_NAMES)
        if a in used:
            continue
        used.add(a)
        joiner = rng.choice(
            [" ", " 그리고 ", " 무엇보다 ", " 특히 "]
            if label
            else [" ", " 게다가 ", " 특히 ", " 심지어 "]
        )
        cand = pieces + [
            joiner.strip()
            + " "
            + aspect_sentence(rng, label, a)
            + rng.choice([".", ".", "!", ".."])
        ]
        cand = [c.strip() for c in cand]
        if len(" ".join(cand)) > 105:
            break
        pieces = cand
    pieces.append(rng.choice(OVERALL[label]) + punct(rng, label))
    s = " ".join(pieces)
    return s if len(s) <= 125 else " ".join(pieces[:1] + pieces[-1:])


FAMILIES = [
    (fam_aspect, 22),
    (fam_contrast, 12),
    (fam_context, 10),
    (fam_short, 12),
    (fam_rating, 7),
    (fam_role, 8),
    (fam_compare, 5),
    (fam_rhetoric, 4),
    (fam_misc, 6),
    (fam_english, 3),
    (fam_long, 14),
]


def make_document(rng: random.Random, label: int) -> str:
    funcs = [f for f, _ in FAMILIES]
    weights = [w for _, w in FAMILIES]
    fam = rng.choices(funcs, weights=weights, k=1)[0]
    doc = fam(rng, label)
    return " ".join(doc.split())  # normalise whitespace; noise is added later


# ---------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------


def noise_repeat(rng, doc, label):
    tokens = ["ㅋ", "ㅎ", "!", ".", "ㅠ", "~"] if label else ["ㅋ", "ㅠ", ".", "?", "ㅡ", "ㅜ"]
    tok = rng.choice(tokens)
    run = tok * rng.randint(5, 9)
    doc = doc.rstrip(".!~")
    return doc + rng.choice(["", " "]) + run


def noise_spaces(rng, doc, label):
    words = doc.split(" ")
    if len(words) < 2:
        return "  " + doc + "   "
    out = words[0]
    for w in words[1:]:
        out += " " * rng.choice([1, 1, 2, 3, 4]) + w
    if "  " not in out:
        out = out.replace(" ", "   ", 1)
    if rng.random() < 0.4:
        out = " " + out + "  "
    return out


def noise_url(rng, doc, label):
    host = rng.choice(["http://example.com", "https://example.org", "http://www.example.com"])
    path = rng.choice(["/review/", "/blog/movie/", "/post?id=", "/m/"]) + str(
        rng.randint(1000, 99999)
    )
    return rng.choice(
        [f"{doc} {host}{path}", f"{doc} 자세한 리뷰는 {host}{path}", f"{host}{path} {doc}"]
    )


def noise_html(rng, doc, label):
    words = doc.split(" ")
    kind = rng.random()
    if kind < 0.5 and len(words) > 2:
        cut = rng.randint(1, len(words) - 1)
        return (
            " ".join(words[:cut]) + rng.choice(["<br>", "<br/>", " <br> "]) + " ".join(words[cut:])
        )
    tag = rng.choice(["b", "i", "strong"])
    idx = rng.randrange(len(words))
    words[idx] = f"<{tag}>{words[idx]}</{tag}>"
    return " ".join(words)


def noise_quote(rng, doc, label):
    phrase = rng.choice(
        ["인생 영화", "명작", "웰메이드"] if label else ["역대급", "웰메이드", "감동 실화"]
    )
    cop = "이" if has_batchim(phrase) else ""  # copula before 라는/라더니/지
    if label:
        return rng.choice(
            [f'"{phrase}"{cop}라는 말이 딱 맞음. {doc}', f'{doc} 이게 "{phrase}"{cop}지']
        )
    return rng.choice([f'"{phrase}"{cop}라더니 {doc}', f'{doc} 어디가 "{phrase}"{cop}라는 건지'])


def noise_nfd(rng, doc, label):
    return unicodedata.normalize("NFD", doc)


NOISE_FUNCS = {
    "repeat": noise_repeat,
    "spaces": noise_spaces,
    "url": noise_url,
    "html": noise_html,
    "quote": noise_quote,
    "nfd": noise_nfd,
}


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def build_rows(rng: random.Random) -> list[tuple[int, str, int]]:
    n_generated = N_ROWS - N_EMPTY - N_DUPLICATE
    labels = [1] * (n_generated // 2) + [0] * (n_generated - n_generated // 2)
    rng.shuffle(labels)

    docs: list[str] = []
    seen: set[str] = set()
    for label in labels:
        for _ in range(200):
            doc = make_document(rng, label)
            if doc not in seen:
                break
        else:  # pragma: no cover - vocabulary is large enough
            raise RuntimeError("could not generate a unique document")
        seen.add(doc)
        docs.append(doc)

    # Inject noise into disjoint sets of rows.
    order = list(range(n_generated))
    rng.shuffle(order)
    pos = 0
    for kind, count in NOISE_PLAN.items():
        for i in order[pos : pos + count]:
            docs[i] = NOISE_FUNCS[kind](rng, docs[i], labels[i])
        pos += count
    clean_left = order[pos:]

    rows_docs = list(zip(docs, labels, strict=False))
    # Exact duplicates: copy documents (and labels) of clean rows.
    for i in rng.sample(clean_left, N_DUPLICATE):
        rows_docs.append((docs[i], labels[i]))
    # Empty documents; the label keeps the final split balanced.
    n_pos = sum(lab for _, lab in rows_docs)
    n_neg = len(rows_docs) - n_pos
    for _ in range(N_EMPTY):
        lab = 1 if n_pos < n_neg else 0
        rows_docs.append(("", lab))
        n_pos, n_neg = n_pos + lab, n_neg + (1 - lab)

    rng.shuffle(rows_docs)
    ids = rng.sample(range(1_000_000, 20_000_000), len(rows_docs))
    rows = [(i, d, lab) for i, (d, lab) in zip(ids, rows_docs, strict=False)]

    for _, d, _ in rows:
        assert "\t" not in d and "\n" not in d and "\r" not in d, d
    return rows


def main() -> None:
    rng = random.Random(SEED)
    rows = build_rows(rng)
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT_PATH, "w", encoding="utf-8", newline="\n") as f:
        f.write("id\tdocument\tlabel\n")
        for i, d, lab in rows:
            f.write(f"{i}\t{d}\t{lab}\n")
    n_pos = sum(lab for *_, lab in rows)
    print(f"wrote {OUT_PATH} ({len(rows)} rows, {n_pos} positive, {len(rows) - n_pos} negative)")


if __name__ == "__main__":
    main()
