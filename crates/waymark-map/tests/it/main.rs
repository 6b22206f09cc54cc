//! The rendered maps are well-formed, self-contained and show what a CX team expects.

use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};
use waymark_journey::{Journey, Visibility};

fn example(path: &str) -> Journey {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(path);
    let source = std::fs::read_to_string(file).expect("example");
    waymark_journey::check(&source)
        .journey
        .expect("valid example")
}

fn parse(text: &str) -> Document<'_> {
    Document::parse_with_options(
        text,
        ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|error| panic!("not well-formed: {error}"))
}

fn with_class<'a, 'i>(document: &'a Document<'i>, class: &str) -> Vec<Node<'a, 'i>> {
    document
        .descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .collect()
}

fn number(node: &Node, attribute: &str) -> f64 {
    node.attribute(attribute)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

const EXAMPLES: [&str; 3] = [
    "training-request/as-is.yaml",
    "training-request/to-be.yaml",
    "loan-application/journey.yaml",
];

#[test]
fn svg_has_a_card_per_touchpoint_with_department_and_target() {
    for path in EXAMPLES {
        let journey = example(path);
        let svg = waymark_map::svg(&journey);
        let document = parse(&svg);
        assert_eq!(document.root_element().tag_name().name(), "svg");
        let cards = with_class(&document, "touchpoint");
        assert_eq!(cards.len(), journey.touchpoints().count(), "{path}");
        for (_, tp) in journey.touchpoints() {
            let card = cards
                .iter()
                .find(|c| c.attribute("data-touchpoint") == Some(tp.id.as_str()))
                .unwrap_or_else(|| panic!("{path}: no card for {}", tp.id));
            let text: String = card
                .descendants()
                .filter_map(|n| n.text())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                text.contains(&tp.department),
                "{}: department on the card: {text}",
                tp.id
            );
            if let Some(target) = tp.target {
                let shown = waymark_journey::duration::format(target);
                assert!(
                    text.contains(&format!("target {shown}")),
                    "{}: target on the card: {text}",
                    tp.id
                );
            }
            assert_eq!(
                text.contains('★'),
                tp.moment_of_truth,
                "{}: moment of truth marked",
                tp.id
            );
        }
        assert_eq!(
            with_class(&document, "stage").len(),
            journey.stages.len(),
            "a column per stage"
        );
    }
}

#[test]
fn front_stage_lanes_sit_above_the_line_of_visibility_and_back_stage_below() {
    let journey = example("training-request/to-be.yaml");
    let document_text = waymark_map::svg(&journey);
    let document = parse(&document_text);
    let line = with_class(&document, "line-of-visibility");
    assert_eq!(line.len(), 1, "one line of visibility");
    let line_y = line[0]
        .descendants()
        .find(|n| n.has_tag_name("line"))
        .map(|l| number(&l, "y1"))
        .expect("line");
    let lanes = with_class(&document, "lane");
    assert!(lanes.len() >= 4, "swimlanes per channel");
    for lane in lanes {
        let y = lane
            .descendants()
            .find(|n| n.has_tag_name("line"))
            .map(|l| number(&l, "y1"))
            .expect("lane line");
        match lane.attribute("data-visibility") {
            Some("front") => assert!(
                y < line_y,
                "front lane at {y} is above the line at {line_y}"
            ),
            Some("back") => assert!(y > line_y, "back lane at {y} is below the line at {line_y}"),
            other => panic!("lane without visibility: {other:?}"),
        }
    }
    for card in with_class(&document, "touchpoint") {
        let y = card
            .descendants()
            .find(|n| n.has_tag_name("rect"))
            .map(|r| number(&r, "y"))
            .expect("card rect");
        let id = card.attribute("data-touchpoint").unwrap_or_default();
        let tp = journey.touchpoint(id).expect("card of a touchpoint");
        assert_eq!(
            y < line_y,
            tp.visibility == Visibility::Front,
            "{id} on the right side of the line"
        );
    }
}

#[test]
fn emotion_curve_joins_every_designed_feeling_in_journey_order() {
    let journey = example("training-request/as-is.yaml");
    let svg = waymark_map::svg(&journey);
    let document = parse(&svg);
    let points = with_class(&document, "emotion-point");
    let felt: Vec<(&str, i8)> = journey
        .touchpoints()
        .filter_map(|(_, tp)| tp.experience.emotion.map(|e| (tp.id.as_str(), e)))
        .collect();
    assert_eq!(points.len(), felt.len());
    let mut last_x = f64::MIN;
    for (point, (id, score)) in points.iter().zip(&felt) {
        assert_eq!(point.attribute("data-touchpoint"), Some(*id));
        let circle = point
            .descendants()
            .find(|n| n.has_tag_name("circle"))
            .expect("circle");
        let (x, y) = (number(&circle, "cx"), number(&circle, "cy"));
        assert!(x > last_x, "points run left to right");
        last_x = x;
        // Higher feelings are drawn higher (smaller y).
        for (other, (_, other_score)) in points.iter().zip(&felt) {
            let other_y = other
                .descendants()
                .find(|n| n.has_tag_name("circle"))
                .map(|c| number(&c, "cy"))
                .unwrap_or_default();
            if score > other_score {
                assert!(
                    y < other_y,
                    "{id} ({score}) is above a point scoring {other_score}"
                );
            }
        }
    }
    assert_eq!(with_class(&document, "emotion-curve").len(), 1);
}

#[test]
fn html_is_self_contained_and_carries_the_change_impact_answers() {
    let journey = example("training-request/to-be.yaml");
    let html = waymark_map::html(&journey);
    let document = parse(&html);
    assert_eq!(document.root_element().tag_name().name(), "html");
    // Nothing is loaded from elsewhere: no scripts, stylesheets, images or fonts by URL.
    for node in document.descendants().filter(|n| n.is_element()) {
        for attribute in node.attributes() {
            let value = attribute.value();
            let namespace = attribute.name() == "xmlns" && value == "http://www.w3.org/2000/svg";
            assert!(
                namespace || !value.contains("://"),
                "external reference {}={value}",
                attribute.name()
            );
            assert!(
                !matches!(attribute.name(), "src" | "href"),
                "{} loads {value}",
                attribute.name()
            );
        }
    }
    assert!(
        !html.contains("@import") && !html.replace("url(#", "").contains("url("),
        "no external CSS or images"
    );
    let change = journey.change.as_ref().expect("to-be change");
    for (question, answer) in waymark_journey::CHANGE_QUESTIONS
        .iter()
        .zip(change.answers())
    {
        assert!(
            html.contains(question.question.replace('\'', "&#39;").as_str()),
            "{}",
            question.question
        );
        let answer = answer.expect("answered");
        let start: String = answer.chars().take(30).collect();
        assert!(
            html.contains(&start.replace('"', "&quot;")),
            "answer shown: {start}"
        );
    }
    assert!(html.contains("@media print"), "styled for print");
    assert!(
        html.contains("Jennifer, Customer Success manager"),
        "persona shown"
    );
}

#[test]
fn text_that_looks_like_markup_is_escaped() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/training-request/as-is.yaml"),
    )
    .expect("example")
    .replace(
        "name: Pre-approval form",
        "name: \"<script>alert('x')</script> & \\\"more\\\"\"",
    );
    let journey = waymark_journey::check(&source)
        .journey
        .expect("still valid");
    for text in [waymark_map::svg(&journey), waymark_map::html(&journey)] {
        let document = parse(&text);
        assert!(
            document.descendants().all(|n| !n.has_tag_name("script")),
            "no script element"
        );
        assert!(text.contains("&lt;script&gt;"));
    }
}
