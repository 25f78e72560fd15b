"""`mnistlab models`: the model families, the recipes and the pretrained models shipped."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser(
        "models",
        help="list model families, recipes and shipped pretrained models",
        description="Every registered model family, every recipe (with what it is measured to "
        "reach) and every pretrained model shipped with this install.",
    )
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.set_defaults(func=cmd_models)


def catalogue() -> dict[str, Any]:
    from mnistlab.models import create_model, get_entry, list_models, list_variants
    from mnistlab.runs import default_pretrained, list_pretrained, read_card
    from mnistlab.train.recipes import EXPECTED, get_recipe, list_recipes

    families = []
    variants = list_variants()
    for name in list_models():
        variant = variants.get(name)
        description = variant.description if variant else get_entry(name).description
        parameters = sum(p.numel() for p in create_model(name).parameters())
        families.append(
            {
                "name": name,
                "family": variant.family if variant else name,
                "description": description,
                "parameters": parameters,
            }
        )
    recipes = []
    for name, description in list_recipes().items():
        recipe = get_recipe(name, "cpu")
        recipes.append(
            {
                "name": name,
                "description": description,
                "trains": recipe.get("model", "the chosen --model"),
                "epochs": recipe.get("epochs"),
                "expected": EXPECTED.get(name, ""),
            }
        )
    pretrained = []
    for name in list_pretrained():
        card = read_card(name)
        pretrained.append(
            {
                "name": name,
                "default": name == default_pretrained(),
                "model": card.get("model"),
                "purpose": card.get("purpose"),
                "test_acc": card.get("test_acc"),
                "parameters": card.get("parameters"),
                "file_bytes": card.get("file_bytes"),
            }
        )
    return {"models": families, "recipes": recipes, "pretrained": pretrained}


def cmd_models(args: argparse.Namespace) -> int:
    info = catalogue()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    # one name column for all three lists, as wide as the longest name
    w = max(len(e["name"]) for key in ("models", "recipes", "pretrained") for e in info[key])
    print("models (mnistlab train --model NAME; families and their named variants):")
    for m in info["models"]:
        print(f"  {m['name']:{w}} {m['parameters']:>9,}  {m['description']}")
    print("recipes (mnistlab train --recipe NAME):")
    for r in info["recipes"]:
        print(f"  {r['name']:{w}} trains {r['trains']}: {r['description']}")
        if r["expected"]:
            print(f"  {'':{w}} measured: {r['expected']}")
    print("pretrained models (mnistlab predict NAME IMAGE; eval, export and serve take them too):")
    if not info["pretrained"]:
        print("  none shipped with this install")
    for p in info["pretrained"]:
        mark = " (default)" if p["default"] else ""
        print(
            f"  {p['name']:{w}} {p['model']}, {p['parameters']:,} parameters, test acc "
            f"{100 * p['test_acc']:.2f}%{mark}: {p['purpose']}"
        )
    return 0
