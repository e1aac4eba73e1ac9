"""Values people and places carry: names, roads, resident IDs, mobiles, plates, USCCs."""

from __future__ import annotations

import datetime as dt

import numpy as np

from citylake.domain.districts import districts as district_names
from citylake.domain.ids import USCC_CHARS, org_code_check, resident_id_check, uscc_check

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玲文斌辉鹏晨宇浩然欣怡佳琪子涵梓萱思远")
ROADS = [
    "南京西路",
    "淮海中路",
    "世纪大道",
    "中山北路",
    "延安西路",
    "四川北路",
    "肇嘉浜路",
    "张杨路",
    "虹桥路",
    "曹安公路",
    "沪闵路",
    "长宁路",
    "武宁路",
    "共和新路",
    "杨高路",
    "龙华中路",
    "漕宝路",
    "松江大道",
    "嘉松北路",
    "人民路",
]
CATEGORIES = [
    "城市管理",
    "交通出行",
    "住房保障",
    "环境保护",
    "市场监管",
    "社会保障",
    "公共安全",
    "教育",
    "医疗卫生",
    "噪音扰民",
]
DEPARTMENTS = ["内科", "外科", "儿科", "妇产科", "急诊科", "眼科", "口腔科", "皮肤科", "中医科", "心血管内科"]
INDUSTRIES = [
    "制造业",
    "信息技术",
    "批发零售",
    "金融业",
    "交通运输",
    "科学研究",
    "医药制造",
    "集成电路",
    "汽车制造",
    "生物医药",
]
PLATE_LETTERS = "ABCDEFGHJKLMN"
CARRIERS = ("cmcc", "cucc", "ctcc", "cbn")


def resident_id(rng: np.random.Generator, district: str) -> str:
    year = int(rng.integers(1950, 2010))
    birth = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    first17 = f"{district}{birth:%Y%m%d}{int(rng.integers(0, 1000)):03d}"
    return first17 + resident_id_check(first17)


def mobile(rng: np.random.Generator) -> str:
    return f"1{int(rng.integers(3, 10))}{int(rng.integers(0, 10**9)):09d}"


def person_name(rng: np.random.Generator) -> str:
    k = int(rng.integers(1, 3))
    return SURNAMES[int(rng.integers(0, len(SURNAMES)))] + "".join(
        GIVEN[int(i)] for i in rng.integers(0, len(GIVEN), k)
    )


def street_address(rng: np.random.Generator, district: str) -> str:
    return f"上海市{district_names()[district]}{ROADS[int(rng.integers(0, len(ROADS)))]}{int(rng.integers(1, 2000))}号"


def plate(rng: np.random.Generator) -> str:
    letter = PLATE_LETTERS[int(rng.integers(0, len(PLATE_LETTERS)))]
    return f"沪{letter}{'D' if rng.random() < 0.7 else ''}{int(rng.integers(10000, 99999))}"


def uscc(rng: np.random.Generator, district: str) -> str:
    org8 = "".join(USCC_CHARS[int(i)] for i in rng.integers(0, 10, 8))
    first17 = "91" + district + org8 + org_code_check(org8)
    return first17 + uscc_check(first17)
