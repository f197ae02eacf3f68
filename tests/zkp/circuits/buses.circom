pragma circom 2.2.0;

// Bus inputs: an array of points, each a bus with two fields.
bus Point() {
    signal x;
    signal y;
}

template SumPoints(n) {
    input Point() p[n];
    signal input scale;
    output Point() total;
    var sx = 0;
    var sy = 0;
    for (var i = 0; i < n; i++) {
        sx += p[i].x;
        sy += p[i].y;
    }
    total.x <== sx * scale;
    total.y <== sy * scale;
}

component main = SumPoints(2);
