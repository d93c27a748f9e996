from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skpneumo.utils.pipelines import final_step


def test_final_step_of_a_pipeline_and_of_a_bare_estimator():
    clf = LogisticRegression()
    assert final_step(Pipeline([("scale", StandardScaler()), ("clf", clf)])) == ("clf", clf)
    assert final_step(clf) == (None, clf)
