pragma circom 2.0.0;

// c = a * b with a public, refusing the trivial factor 1 so that a failing
// assert can be provoked from the inputs; logs the product.
template Multiplier() {
    signal input a;
    signal input b;
    signal output c;
    assert(a != 1);
    assert(b != 1);
    c <== a * b;
    log("product", c);
}

component main {public [a]} = Multiplier();
