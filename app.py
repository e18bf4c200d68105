"""Transfer Scout: pick a dataset and candidate backbones, rank them with transferability metrics, see why, export.

`streamlit run app.py` (or `make run`). The pages under pages/ are thin: every number and figure comes from
transfer_core.
"""

import streamlit as st

import app_support as shared

st.set_page_config(page_title="Transfer Scout", page_icon=":material/travel_explore:", layout="wide")

PAGES = [
    st.Page(shared.PAGE_DATASET, title="Dataset", icon=":material/photo_library:"),
    st.Page(shared.PAGE_MODELS, title="Models", icon=":material/deployed_code:"),
    st.Page(shared.PAGE_RANK, title="Rank", icon=":material/leaderboard:", default=True),
    st.Page(shared.PAGE_EXPLORE, title="Explore", icon=":material/scatter_plot:"),
    st.Page(shared.PAGE_VALIDATE, title="Validate", icon=":material/fact_check:"),
    st.Page(shared.PAGE_EXPORT, title="Export", icon=":material/download:"),
]


def sidebar() -> None:
    """The current choices and the last result, on every page."""
    from transfer_core.cache.store import FeatureStore

    with st.sidebar:
        st.markdown("### Transfer Scout")
        st.caption("Which pre-trained backbone should you fine-tune on your images? Ranked in minutes, "
                   "not GPU-days.")
        spec = shared.dataset_spec()
        models, metrics = shared.current_model_ids(), shared.current_metrics()
        st.markdown(f"**Dataset** · {spec.label}" + (f" · {spec.limit} images" if spec.limit else ""))
        st.markdown(f"**Models** · {len(models)} selected  \n**Metrics** · {len(metrics)} selected")
        run = shared.current_run()
        if run is not None and run.verdict is not None:
            st.markdown(f"**Best bet** · {shared.short_name(run.verdict.best)}")
        usage = FeatureStore().usage()
        st.caption(f"Feature cache: {usage.entries} entries, {usage.bytes / 2**20:.1f} MiB of "
                   f"{usage.max_bytes / 2**30:.0f} GiB in `{usage.root}`. Cached features make re-runs take seconds.")


sidebar()
st.navigation(PAGES).run()
