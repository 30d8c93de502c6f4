"""Fulfillment: the weather, store locator and price catalogue behind one small adapter
interface. The shipped adapters read a seeded local SQL database (SQLAlchemy); an HTTP
adapter reaches a real service instead. Every call runs under a time-out with retries for
transient failures; what still fails is an ``AdapterError`` whose message the flow shows."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from mlfabric.apps.assistant.engine import AdapterError
from mlfabric.errors import InvalidInput, MlfabricError

# What each fulfillment state type writes into the context (the validator reads it).
OUTPUTS: dict[str, tuple[str, ...]] = {
    "weather": ("weather_condition", "temperature"),
    "store": ("store_name", "store_address", "store_hours", "store_distance_km"),
    "price": ("item_name", "item_price"),
}


class Adapter(Protocol):
    """One fulfillment service: its name and one lookup."""

    name: str

    def fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        """The context keys of ``OUTPUTS[name]`` for ``args``; ``AdapterError`` if none."""
        ...


_meta = sa.MetaData()
CITIES_T = sa.Table("cities", _meta, sa.Column("name", sa.String, primary_key=True),
                    sa.Column("lat", sa.Float), sa.Column("lon", sa.Float))
WEATHER_T = sa.Table("weather", _meta, sa.Column("city", sa.String, primary_key=True),
                     sa.Column("condition", sa.String), sa.Column("temperature_c", sa.Integer))
STORES_T = sa.Table("stores", _meta, sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String), sa.Column("address", sa.String),
                    sa.Column("hours", sa.String), sa.Column("lat", sa.Float),
                    sa.Column("lon", sa.Float))
ITEMS_T = sa.Table("items", _meta, sa.Column("name", sa.String, primary_key=True),
                   sa.Column("price_cents", sa.Integer), sa.Column("category", sa.String))

_CITIES = {
    "paris": (48.86, 2.35), "berlin": (52.52, 13.40), "london": (51.51, -0.13),
    "tokyo": (35.68, 139.69), "austin": (30.27, -97.74), "seattle": (47.61, -122.33),
    "boston": (42.36, -71.06), "chicago": (41.88, -87.63), "denver": (39.74, -104.99),
    "miami": (25.76, -80.19), "new york": (40.71, -74.01), "san francisco": (37.77, -122.42),
    "santa clara": (37.35, -121.96), "los angeles": (34.05, -118.24),
    "madrid": (40.42, -3.70), "toronto": (43.65, -79.38), "san diego": (32.72, -117.16),
    "portland": (45.52, -122.68),
}
_STORES = [  # (name, address, hours, city it is in)
    ("Fabric Store Union Square", "170 O'Farrell St, San Francisco", "9am-9pm", "san francisco"),
    ("Fabric Store Fifth Avenue", "600 Fifth Ave, New York", "10am-10pm", "new york"),
    ("Fabric Store Riverside", "12 Bankside, London", "9am-8pm", "london"),
    ("Fabric Store Mitte", "Friedrichstrasse 80, Berlin", "10am-8pm", "berlin"),
    ("Fabric Store Shibuya", "2-1 Dogenzaka, Tokyo", "10am-9pm", "tokyo"),
    ("Fabric Store Loop", "111 State St, Chicago", "9am-9pm", "chicago"),
    ("Fabric Store Congress", "500 Congress Ave, Austin", "10am-8pm", "austin"),
]
_ITEMS = [  # (name, price in cents, category)
    ("jeans", 4999, "jeans"), ("slim jeans", 5999, "jeans"), ("basic jeans", 2999, "jeans"),
    ("running shoes", 8999, "shoes"), ("sneakers", 6499, "shoes"), ("rain boots", 3999, "shoes"),
    ("winter jacket", 12999, "jackets"), ("socks", 799, "accessories"),
    ("sunglasses", 2499, "accessories"), ("backpack", 3499, "bags"), ("dress", 5499, "dresses"),
    ("hoodie", 3999, "tops"), ("baseball cap", 1999, "accessories"),
    ("leather belt", 2999, "accessories"), ("wool scarf", 2299, "accessories"),
    ("t-shirt", 1499, "tops"), ("swim shorts", 2799, "shorts"), ("yoga pants", 4499, "pants"),
]
_CONDITIONS = {"sunny": 24, "cloudy": 15, "rainy": 11, "windy": 13, "snowy": -2, "foggy": 8}


def seed_database(url: str) -> str:
    """Create and fill the fulfillment database at ``url`` (idempotent)."""
    engine = sa.create_engine(url)
    try:
        _meta.create_all(engine)
        with engine.begin() as c:
            if c.execute(sa.select(sa.func.count()).select_from(CITIES_T)).scalar():
                return url
            c.execute(sa.insert(CITIES_T), [{"name": k, "lat": a, "lon": b}
                                            for k, (a, b) in _CITIES.items()])
            kinds = list(_CONDITIONS)
            c.execute(sa.insert(WEATHER_T), [
                {"city": k, "condition": kinds[i % len(kinds)],
                 "temperature_c": _CONDITIONS[kinds[i % len(kinds)]] + i % 4}
                for i, k in enumerate(sorted(_CITIES))])
            c.execute(sa.insert(STORES_T), [
                {"name": n, "address": a, "hours": h, "lat": _CITIES[city][0],
                 "lon": _CITIES[city][1]} for n, a, h, city in _STORES])
            c.execute(sa.insert(ITEMS_T), [{"name": n, "price_cents": p, "category": cat}
                                           for n, p, cat in _ITEMS])
    finally:
        engine.dispose()
    return url


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * \
        math.sin((lo2 - lo1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


class SqlAdapter:
    """An adapter over the fulfillment database."""

    name = ""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _arg(self, args: Mapping[str, Any], key: str) -> str:
        value = str(args.get(key) or "").strip().lower()
        if not value:
            raise AdapterError(f"I need a {key} for that", adapter=self.name)
        return value

    def _city(self, c: sa.Connection, city: str) -> Any:
        row = c.execute(sa.select(CITIES_T).where(CITIES_T.c.name == city)).first()
        if row is None:
            raise AdapterError(f"I don't know where '{city}' is", adapter=self.name)
        return row


class WeatherAdapter(SqlAdapter):
    name = "weather"

    def fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        city = self._arg(args, "location")
        with self.engine.connect() as c:
            self._city(c, city)
            row = c.execute(sa.select(WEATHER_T).where(WEATHER_T.c.city == city)).first()
        if row is None:
            raise AdapterError(f"there is no forecast for {city}", adapter=self.name)
        return {"weather_condition": row.condition, "temperature": row.temperature_c}


class StoreAdapter(SqlAdapter):
    name = "store"

    def fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        city = self._arg(args, "location")
        with self.engine.connect() as c:
            here = self._city(c, city)
            stores = c.execute(sa.select(STORES_T)).all()
        if not stores:
            raise AdapterError("there are no stores yet", adapter=self.name)
        best = min(stores, key=lambda s: _km((here.lat, here.lon), (s.lat, s.lon)))
        return {"store_name": best.name, "store_address": best.address,
                "store_hours": best.hours,
                "store_distance_km": round(_km((here.lat, here.lon), (best.lat, best.lon)))}


class PriceAdapter(SqlAdapter):
    name = "price"

    def fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        item = self._arg(args, "item")
        names = [item, item.removesuffix("s"), item + "s"]
        with self.engine.connect() as c:
            row = c.execute(sa.select(ITEMS_T).where(ITEMS_T.c.name.in_(names))).first()
        if row is None:
            raise AdapterError(f"we do not sell '{item}'", adapter=self.name)
        return {"item_name": row.name, "item_price": f"{row.price_cents / 100:.2f}"}


class HttpAdapter:
    """A real service: ``GET url?arg=...`` answers a JSON object with the adapter's
    outputs (or ``{"error": ...}`` with a 4xx status); 5xx and network errors are
    transient."""

    def __init__(self, name: str, url: str, *, timeout_s: float = 2.0) -> None:
        self.name = name
        self.url = url
        self.timeout_s = timeout_s

    def fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            r = httpx.get(self.url, params={k: str(v) for k, v in args.items()},
                          timeout=self.timeout_s)
        except httpx.TimeoutException:
            raise AdapterError(f"the {self.name} service did not answer within "
                               f"{self.timeout_s:g} s", adapter=self.name,
                               transient=True) from None
        except httpx.HTTPError as exc:
            raise AdapterError(f"the {self.name} service is unreachable ({exc})",
                               adapter=self.name, transient=True) from None
        if r.status_code >= 500:
            raise AdapterError(f"the {self.name} service failed ({r.status_code})",
                               adapter=self.name, transient=True)
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise AdapterError(f"the {self.name} service answered no JSON object",
                               adapter=self.name)
        if r.status_code >= 400:
            raise AdapterError(str(body.get("error") or f"status {r.status_code}"),
                               adapter=self.name)
        missing = [k for k in OUTPUTS.get(self.name, ()) if k not in body]
        if missing:
            raise AdapterError(f"the {self.name} service left out {', '.join(missing)}",
                               adapter=self.name)
        return body


class Fulfillment:
    """Calls adapters by state type with a time-out per try and retries for transient
    failures; the engine's ``fulfil``."""

    def __init__(self, adapters: Mapping[str, Adapter], *, timeout_s: float = 2.0,
                 retries: int = 2, backoff_s: float = 0.05) -> None:
        self.adapters = dict(adapters)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fulfil")

    def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        adapter = self.adapters.get(name)
        if adapter is None:
            raise AdapterError(f"no {name} service is configured", adapter=name)
        for attempt in range(self.retries + 1):
            try:
                return self._once(adapter, args)
            except AdapterError as exc:
                if not exc.transient or attempt == self.retries:
                    raise
            time.sleep(self.backoff_s * (2 ** attempt))
        raise AssertionError("unreachable")

    def _once(self, adapter: Adapter, args: dict[str, Any]) -> dict[str, Any]:
        future = self._pool.submit(adapter.fetch, dict(args))
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise AdapterError(f"the {adapter.name} service did not answer within "
                               f"{self.timeout_s:g} s", adapter=adapter.name,
                               transient=True) from None
        except MlfabricError:
            raise
        except Exception as exc:  # a broken adapter is one failed lookup, not a crash
            raise AdapterError(f"the {adapter.name} service failed: {exc}",
                               adapter=adapter.name, transient=True) from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def build(db_url: str, services: Mapping[str, Any] | None = None, *,
          timeout_s: float = 2.0, retries: int = 2) -> Fulfillment:
    """The shipped SQL adapters over ``db_url``, with any named in ``services``
    (``{"weather": {"url": ..., "timeout_s": ...}}``) served over HTTP instead."""
    engine = sa.create_engine(db_url)
    adapters: dict[str, Adapter] = {"weather": WeatherAdapter(engine),
                                    "store": StoreAdapter(engine),
                                    "price": PriceAdapter(engine)}
    for name, conf in (services or {}).items():
        if name not in OUTPUTS or not isinstance(conf, dict) or "url" not in conf:
            raise InvalidInput(f"service '{name}': give a url for one of "
                               f"{', '.join(OUTPUTS)}", field="services", value=name)
        adapters[name] = HttpAdapter(name, str(conf["url"]),
                                     timeout_s=float(conf.get("timeout_s", timeout_s)))
    return Fulfillment(adapters, timeout_s=timeout_s, retries=retries)


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"
